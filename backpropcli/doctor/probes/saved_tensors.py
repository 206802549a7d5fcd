"""saved-tensors: no tensor saved for backward is changed in place behind autograd's back.

A custom Function records its saved tensors' versions only when forward returns, so an input
that forward overwrites in place (without ctx.mark_dirty) and saves is read by backward with its
new values — silently wrong. The probe calls the Function on copies of every tensor input, finds
the ones whose values changed, and asks the node whether it holds them (saved-tensor-modified,
"in forward"); then runs one backward and sees whether a saved tensor changed ("by backward": a
second backward would be wrong). Cost: 1 forward, 1 backward.
"""

from __future__ import annotations

import dataclasses

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import (
    cotangents,
    device,
    fresh,
    one_line,
    row,
    same_values,
    saved_of,
    seeded,
    shares_memory,
    vjp,
)
from backpropcli.doctor.results import Finding

NAME = "saved-tensors"
COMPARED = "the inputs' and saved tensors' values before and after each call"


def _call_on_copies(ctx: ProbeContext):
    """(tensors passed by name, their values before, outputs, leaves) on copies of every input."""
    subject = ctx.subject
    copies = tuple(dataclasses.replace(i, value=i.value.clone()) if isinstance(i.value, torch.Tensor) and
                   not i.differentiable else i for i in subject.inputs)
    # on the leaves themselves, not clones: the input changing across the call is what is looked for
    copied = dataclasses.replace(subject, inputs=copies, overwrites=False)
    leaves = fresh(ctx)
    passed = {**{i.name: i.value for i in copies if isinstance(i.value, torch.Tensor) and not i.differentiable},
              **leaves}
    before = {n: t.detach().clone() for n, t in passed.items()}
    ctx.cost.forward_calls += 1
    with seeded():
        outputs = copied.call(leaves, device=device(ctx))
    return passed, before, outputs, leaves


def run(ctx: ProbeContext) -> ProbeResult:
    if ctx.subject.function is None:
        return row(NAME, None, "a plain callable saves nothing of its own", "")
    if ctx.subject.dirty:
        return row(NAME, None, "forward declares its in-place inputs with ctx.mark_dirty", "")
    passed, before, outputs, leaves = _call_on_copies(ctx)
    saved = saved_of(outputs)
    changed = [n for n, t in passed.items() if not same_values(t.detach(), before[n])]
    findings = [Finding("saved-tensor-modified", input=n, extra={"where": " in forward"})
                for n in changed if any(shares_memory(s, passed[n]) for s in saved)]
    unsaved = [n for n in changed if n not in {f.input for f in findings}]
    snapshot = [s.detach().clone() for s in saved]
    try:
        vjp(ctx, leaves, outputs, cotangents(outputs, 111), retain=True)
    except Exception as e:
        return row(NAME, None if not findings else False, f"backward raises {one_line(e)}", COMPARED, findings)
    for s, old in zip(saved, snapshot):
        if same_values(s.detach(), old):
            continue
        owner = next((n for n, t in passed.items() if shares_memory(s, t)), None)
        if owner is not None and owner not in {f.input for f in findings}:
            findings.append(Finding("saved-tensor-modified", input=owner, extra={"where": " by backward"}))
        elif owner is None:
            unsaved.append("a saved intermediate (changed by backward)")
    if findings or unsaved:
        what = [f"{f.input} changed{f.extra['where']}" for f in findings] + \
            [f"{n} changed in forward without ctx.mark_dirty" if n in passed else n for n in unsaved]
        return row(NAME, False, "; ".join(what), COMPARED, findings)
    return row(NAME, True, "no input or saved tensor changes in place", COMPARED)
