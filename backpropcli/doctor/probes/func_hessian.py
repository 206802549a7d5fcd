"""torch.func.hessian: forward over reverse through the Function gives the truth's curvature.

Never the dense Hessian: hessian is taken of φ(t) = ⟨f(x + t₁u₁ + t₂u₂), v⟩ at t = 0, a 2×2
matrix whose entries are u_aᵀ H u_b for the Hessian H of ⟨f, v⟩, compared with the truth's H·u_b
(second.py) dotted with u_a. It needs the Function's jvp (the forward pass is differentiated
forward-mode), a vmap rule and setup_context; missing ones are warnings. Cost: 2 forward calls
and 1 backward inside hessian (vmapped), plus 8 forward and backward calls per direction for the
differences when the truth has no differentiable forward.
"""

from __future__ import annotations

import torch

from backpropcli.core import tolerance
from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import call, cotangents, device, fresh, refused, row, seeded, tangents
from backpropcli.doctor.probes.second import difference_hvp, inner, truth_hvp

NAME = "torch.func.hessian"


def _want(ctx: ProbeContext, cots: tuple, us: list[dict]) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(the truth's 2×2 matrix, its allowed error, what it was compared with)."""
    want = torch.zeros(2, 2, dtype=torch.float64)
    slack = torch.zeros(2, 2, dtype=torch.float64)
    compared = f"the truth's second derivative ({ctx.truth.source}) along two random directions"
    for b, ub in enumerate(us):
        hu = truth_hvp(ctx, cots, ub)
        allowed = None
        if hu is None:
            hu, allowed = difference_hvp(ctx, cots, ub)
            compared = "central differences of the custom first derivative along two random directions"
        for a, ua in enumerate(us):
            want[a, b] = float(inner(ua, hu))
            if allowed is not None:
                slack[a, b] = float(inner({n: ua[n].abs() for n in ua}, allowed))
    return want, slack, compared


def run(ctx: ProbeContext) -> ProbeResult:
    cots = cotangents(call(ctx, fresh(ctx)), 81)
    us = [tangents(ctx, 82), tangents(ctx, 83)]
    names = ctx.subject.differentiable
    base = {n: ctx.leaves[n].detach() for n in names}

    def phi(t):
        xs = {n: base[n] + t[0] * us[0][n] + t[1] * us[1][n] for n in names}
        outs = ctx.subject.call(xs, device=device(ctx))
        return torch.stack([(o * c).sum() for o, c in zip(outs, cots) if c is not None]).sum()

    if any(not ctx.first_ok.get(n, True) for n in names) and ctx.truth.differentiable_forward is None:
        return row(NAME, None, "skipped: the first derivative is wrong and the truth has no second", "")
    want, slack, compared = _want(ctx, cots, us)
    try:
        ctx.cost.forward_calls += 1
        ctx.cost.backward_calls += 1
        with seeded():
            got = torch.func.hessian(phi)(torch.zeros(2, dtype=torch.float64, device=base[names[0]].device))
    except Exception as e:
        return refused(NAME, ctx, e, compared, "backward")
    allowed = tolerance.agreement("hessian-products") * (want.abs() + want.abs().max()) + slack + 1e-12
    if bool(((got.detach().to(torch.float64).cpu() - want).abs() <= allowed).all()):
        return row(NAME, True, "uᵀHu matches the truth on random directions", compared)
    if any(not ctx.first_ok.get(n, True) for n in names):
        return row(NAME, False, "differs from the truth (the first derivative is already wrong)", compared)
    return row(NAME, False, "uᵀHu differs from the truth (see double-backward and forward-ad)", compared)
