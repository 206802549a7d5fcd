"""forward-ad: forward-mode AD through the Function (its jvp) gives the truth's J·u.

One dual forward with a random tangent on every differentiable input at once, each output's
tangent compared with the truth's J·u; only when they disagree, one dual forward per input names
the input whose jvp is wrong (wrong-jvp, an error: a first derivative). A Function without a jvp
staticmethod is a warning (no-jvp). Cost: 1 forward call, or 1 + (number of inputs) when wrong.
"""

from __future__ import annotations

import torch
import torch.autograd.forward_ad as fwAD

from backpropcli.core import tolerance
from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import agree, call, refused, row, tangents
from backpropcli.doctor.results import Finding

NAME = "forward-ad"
COMPARED = "the truth's J·u on random tangents"


def _tangents_out(ctx: ProbeContext, u: dict[str, torch.Tensor]) -> tuple:
    with fwAD.dual_level():
        duals = {n: fwAD.make_dual(v.detach(), u[n]) for n, v in ctx.leaves.items()}
        outputs = call(ctx, duals)
        return tuple(fwAD.unpack_dual(o).tangent if isinstance(o, torch.Tensor) else None for o in outputs)


def _wrong_outputs(got: tuple, want: tuple) -> list[int]:
    wrong = []
    for k, w in enumerate(want):
        if w is None or not isinstance(w, torch.Tensor) or not (w.is_floating_point() or w.is_complex()):
            continue
        g = got[k] if k < len(got) and got[k] is not None else torch.zeros_like(w)
        # an element whose truth is not finite (an overflow) has nothing to judge against; a
        # lower-precision output's tangent carries that dtype's rounding
        known = torch.isfinite(w)
        least = tolerance.agreement("forward-ad")  # of each output's largest |J·u|
        rtol = max(least, 64 * torch.finfo(g.dtype).eps) if g.is_floating_point() else least
        if tuple(g.shape) != tuple(w.shape) or not agree(g[known], w[known], rtol):
            wrong.append(k)
    return wrong


def run(ctx: ProbeContext) -> ProbeResult:
    u = tangents(ctx, 41)
    try:
        got = _tangents_out(ctx, u)
    except Exception as e:
        return refused(NAME, ctx, e, COMPARED)
    want = tuple(ctx.truth.jvp(u))
    if not _wrong_outputs(got, want):
        return row(NAME, True, "J·u matches the truth on a random tangent", COMPARED)
    if ctx.subject.function is None and all(t is None for t in got):
        # a callable none of whose outputs carries a tangent (a custom_op with no forward-mode rule
        # drops it silently):
        # forward AD is not supported, which says nothing about the first derivative
        why = "no output carries a tangent (no forward-mode rule)"
        return row(NAME, None, f"not supported: {why}", COMPARED, [Finding("no-jvp", extra={"why": why})])
    findings = []
    for name in ctx.subject.differentiable:
        only = tangents(ctx, 41, only=name)
        wrong = _wrong_outputs(_tangents_out(ctx, only), tuple(ctx.truth.jvp(only)))
        if wrong:
            names = ctx.subject.output_names(got)
            output = names[wrong[0]] if len(names) > 1 else None
            findings.append(Finding("wrong-jvp", input=name, output=output))
    if not findings:  # wrong together, right one by one: the inputs' tangents interact
        findings.append(Finding("wrong-jvp", input=None))
    return row(NAME, False, "J·u differs from the truth", COMPARED, findings)
