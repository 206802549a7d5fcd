"""Second-derivative products for the double-backward and hessian probes (not a capability).

For a scalar ⟨f(x), v⟩ with a random cotangent v, the probes compare H·u — the Hessian of that
scalar times a random tangent u — never H itself. Reverse over reverse gives it as
∂/∂x ⟨Jᵀ(x)v, u⟩: one backward with create_graph, then one backward of the inner product.

The truth's H·u comes from the truth's differentiable forward (the reference, or forward's own ops)
the same way. Without one, it is the central difference of the custom first derivative along u,
Richardson-extrapolated from steps h and h/2, used only for inputs whose first derivative was
right; its allowed error includes the difference between the two steps, so an unconverged
difference is never read as a wrong second derivative.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from backpropcli.core import finite_diff, tolerance
from backpropcli.doctor.probes import ProbeContext
from backpropcli.doctor.probes.common import call, fresh, vjp

FD_STEP = 1e-4  # relative to the input's scale; the probe's u has max |u| = 1


def inner(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return sum(((a[n] * b[n]).sum() for n in b), torch.zeros((), dtype=torch.float64))


def truth_hvp(ctx: ProbeContext, cots: tuple, u: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """H·u of ⟨f, v⟩ by reverse over reverse through the truth's differentiable forward; None
    when there is none."""
    forward = ctx.truth.differentiable_forward
    if forward is None:
        return None
    leaves = fresh(ctx)
    outputs = tuple(forward(leaves))
    pairs = [(o, c) for o, c in zip(outputs, cots) if c is not None and o.requires_grad]
    names = list(leaves)
    if not pairs:
        return {n: torch.zeros_like(leaves[n]) for n in names}
    first = torch.autograd.grad([o for o, _ in pairs], [leaves[n] for n in names], [c for _, c in pairs],
                                create_graph=True, allow_unused=True)
    terms = [(g * u[n]).sum() for n, g in zip(names, first) if g is not None and g.requires_grad]
    if not terms:
        return {n: torch.zeros_like(leaves[n]) for n in names}
    second = torch.autograd.grad(torch.stack(terms).sum(), [leaves[n] for n in names], allow_unused=True)
    return {n: torch.zeros_like(leaves[n]) if g is None else g.detach() for n, g in zip(names, second)}


def custom_grad_at(ctx: ProbeContext, cots: tuple, shift: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The custom Jᵀv at the leaves moved by ``shift``."""
    values = {n: (ctx.leaves[n].detach() + shift[n]) for n in ctx.leaves}
    leaves = ctx.subject.leaves(values=values)
    outputs = call(ctx, leaves)
    return {n: g.detach() for n, g in vjp(ctx, leaves, outputs, cots).items()}


def difference_hvp(ctx: ProbeContext, cots: tuple, u: Mapping[str, torch.Tensor]
                   ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(H·u, allowed error) from central differences of the custom first derivative along u."""
    scale = max(float(ctx.leaves[n].detach().abs().max()) if ctx.leaves[n].numel() else 0.0 for n in u)
    h = FD_STEP * max(1.0, scale)

    names = list(u)

    def moved(s: float) -> tuple[torch.Tensor, ...]:
        grads = custom_grad_at(ctx, cots, {n: s * u[n] for n in names})
        return tuple(grads[n] for n in names)

    extrapolated, (coarse, fine) = finite_diff.along(moved, h, extrapolations=1)
    best = dict(zip(names, extrapolated))
    rtol, allowed = tolerance.agreement("second-by-differences"), {}
    for n, b, c, f in zip(names, extrapolated, coarse, fine):
        top = float(b.abs().max()) if b.numel() else 0.0
        allowed[n] = rtol * (b.abs() + top) + 10 * (f - c).abs() + 1e-12
    return best, allowed
