"""grad-output: the backward is linear in grad_output, as the chain rule makes it.

Jᵀv is linear in v. Three cotangents — all ones, a signed random one, and that one times 1000 —
give three custom VJPs, each compared with the truth's (the large one catches a backward that
clips or saturates grad_output, which small random cotangents never reach). A backward that
returns the local derivative alone gives the same gradient for ones and the random one while the
truth's differ (ignores-grad-output); one that is right for v = ones but not for the others uses
grad_output, but not as the chain rule does (grad-output-misused).
Cost: 1 forward, 3 backward calls.
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import agree, call, cotangents, fresh, good, one_line, row, vjp
from backpropcli.doctor.results import Finding

NAME = "grad-output"
COMPARED = "the truth, for grad_output = ones, a random one and 1000 times it"


def run(ctx: ProbeContext) -> ProbeResult:
    leaves = fresh(ctx)
    outputs = call(ctx, leaves)
    ones = tuple(None if c is None else torch.ones_like(c) for c in cotangents(outputs, 1))
    signed = cotangents(outputs, 11)
    large = tuple(None if c is None else 1000 * c for c in signed)
    if all(c is None for c in ones):
        return row(NAME, None, "no differentiable output", COMPARED)
    try:
        got = [vjp(ctx, leaves, outputs, v, retain=True) for v in (ones, signed, large)]
    except Exception as e:  # a backward that raises is the first comparison's finding
        return row(NAME, None, f"skipped: backward raises {one_line(e)}", COMPARED)
    want = [ctx.truth.vjp(v) for v in (ones, signed, large)]
    findings, other = [], []
    for name in ctx.subject.differentiable:
        right = [good(ctx, g[name], w[name], name) for g, w in zip(got, want)]
        if all(right):
            continue
        other.append(name)
        truth_moves = not agree(want[0][name], want[1][name], 1e-6)
        if truth_moves and agree(got[0][name], got[1][name]):
            findings.append(Finding("ignores-grad-output", input=name))
            other.remove(name)
        elif right[0]:
            findings.append(Finding("grad-output-misused", input=name))
            other.remove(name)
    if findings:
        names = ", ".join(f.input or "" for f in findings)
        return row(NAME, False, f"the gradient for {names} is not linear in grad_output", COMPARED, findings)
    if other:
        return row(NAME, False, f"the gradient for {', '.join(other)} is wrong (see its findings)", COMPARED)
    return row(NAME, True, "the gradient follows grad_output", COMPARED)
