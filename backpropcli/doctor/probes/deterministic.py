"""deterministic: two backward calls on the same forward and grad_output give the same gradient.

One forward, one random cotangent, backward twice on the retained graph. They may differ by the
doctor's tolerance (atomics on a GPU reorder sums); beyond it, the backward draws something anew
— a dropout mask, a random state — that it should have saved in forward
(nondeterministic-backward). A backward that changes a saved tensor in place also differs the
second time; that is the saved-tensors row's finding, not this one. Cost: 1 forward, 2 backward.
"""

from __future__ import annotations

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import (
    call,
    cotangents,
    fresh,
    max_difference,
    one_line,
    row,
    same_values,
    saved_of,
    vjp,
)
from backpropcli.doctor.results import Finding

NAME = "deterministic"
COMPARED = "a second backward on the same forward and grad_output"


def run(ctx: ProbeContext) -> ProbeResult:
    leaves = fresh(ctx)
    outputs = call(ctx, leaves)
    cots = cotangents(outputs, 101)
    before = [t.detach().clone() for t in saved_of(outputs)]
    try:
        first = vjp(ctx, leaves, outputs, cots, retain=True)
        after = [t.detach().clone() for t in saved_of(outputs)]
        second = vjp(ctx, leaves, outputs, cots, retain=True)
    except Exception as e:
        return row(NAME, None, f"skipped: backward raises {one_line(e)}", COMPARED)
    findings = []
    for name in ctx.subject.differentiable:
        a, b = first[name].detach(), second[name].detach()
        if a.shape != b.shape:
            continue
        if bool(((a - b).abs() > ctx.tolerance(a, name)).any()):
            findings.append(Finding("nondeterministic-backward", input=name,
                                    extra={"max_abs_difference": max_difference(a, b)}))
    if findings and not all(same_values(x, y) for x, y in zip(before, after)):
        return row(NAME, False, "the second backward differs because the first changed a saved tensor "
                   "(see saved-tensors)", COMPARED)
    if findings:
        names = ", ".join(f.input or "" for f in findings)
        return row(NAME, False, f"the gradient for {names} differs between two identical backward calls",
                   COMPARED, findings)
    return row(NAME, True, "two identical backward calls agree", COMPARED)
