"""surrogate: a wrong gradient that is a deliberate surrogate (straight-through and the like).

Only inputs whose first derivative was found wrong are looked at. Such an input's gradient is a
surrogate when forward is piecewise constant in it — the truth's Jᵀv is exactly 0 at ≥ 99 % of
its elements, and nudging it by ±1e-7 relative leaves ≥ 99 % of the outputs bit-for-bit
unchanged — and the custom gradient is not 0. That is a warning naming it (surrogate-gradient),
never an error; the doctor drops the input's first-derivative errors. When the custom gradient
is grad_output itself, it is named a straight-through estimator.
Cost: 1 forward and 1 backward, plus 2 forwards per wrong input.
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import (
    agree,
    call,
    cotangents,
    device,
    fresh,
    one_line,
    random_like,
    row,
    seeded,
    vjp,
)
from backpropcli.doctor.results import Finding

NAME = "surrogate"
COMPARED = "forward's values near the point and the truth's zero gradient"
MOSTLY = 0.99
NUDGE = 1e-7


def _constant_in(ctx: ProbeContext, name: str, outputs: tuple) -> bool:
    """Forward's outputs do not move when ``name`` is nudged both ways (at ≥ 99 % of elements)."""
    x = ctx.leaves[name].detach()
    step = NUDGE * (x.abs() + 1) * random_like(x, 131).sign()
    for sign in (1, -1):
        values = {n: v.detach() for n, v in ctx.leaves.items()}
        values[name] = x + sign * step
        ctx.cost.forward_calls += 1
        with seeded(), torch.no_grad():
            moved = ctx.subject.call(ctx.subject.leaves(values=values), device=device(ctx))
        for o, m in zip(outputs, moved):
            if isinstance(o, torch.Tensor) and o.numel() and (o.detach() == m).float().mean() < MOSTLY:
                return False
    return True


def _surrogate(ctx, name, outputs, cots, custom, truth) -> Finding | None:
    t, c = truth[name].detach(), custom[name].detach()
    if t.numel() == 0 or (t == 0).float().mean() < MOSTLY or not bool((c != 0).any()):
        return None
    if not _constant_in(ctx, name, outputs):
        return None
    straight = [v for o, v in zip(outputs, cots) if v is not None and tuple(v.shape) == tuple(c.shape)]
    if any(agree(c, v) for v in straight):
        return Finding("surrogate-gradient", input=name,
                       extra={"surrogate": "a straight-through estimator: grad_output passes unchanged"})
    return Finding("surrogate-gradient", input=name)


def run(ctx: ProbeContext) -> ProbeResult:
    wrong = [n for n in ctx.subject.differentiable if not ctx.first_ok.get(n, True)]
    if not wrong:
        return row(NAME, True, "every first derivative is the true one: no surrogate",
                   "the first-derivative comparison")
    leaves = fresh(ctx)
    outputs = call(ctx, leaves)
    cots = cotangents(outputs, 132)
    try:
        custom = vjp(ctx, leaves, outputs, cots)
    except Exception as e:
        return row(NAME, None, f"skipped: backward raises {one_line(e)}", COMPARED)
    truth = ctx.truth.vjp(cots)
    findings = [f for n in wrong if (f := _surrogate(ctx, n, outputs, cots, custom, truth)) is not None]
    if findings:
        names = ", ".join(f.input or "" for f in findings)
        return row(NAME, None, f"{names}: forward is piecewise constant, backward a surrogate", COMPARED,
                   findings)
    return row(NAME, True, "no wrong gradient is a surrogate (forward is not piecewise constant there)",
               COMPARED)
