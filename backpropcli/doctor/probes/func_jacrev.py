"""torch.func.jacrev: reverse-mode Jacobian rows (vmap over the custom backward) give the truth's.

Never the dense Jacobian: jacrev is taken of y(x) = (⟨f(x), v₁⟩, ⟨f(x), v₂⟩) for two random
cotangents, so its two rows are v₁ᵀJ and v₂ᵀJ, each compared with the truth's Jᵀv. jacrev vmaps
the backward (plain ops: forward needs no vmap rule) and needs setup_context; a missing one is a
warning. Cost: 2 forward calls, 1
(batched) backward.
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import call, cotangents, device, fresh, good, refused, row, seeded

NAME = "torch.func.jacrev"
COMPARED = "the truth's Jᵀv for two random v (rows of J, never J itself)"


def run(ctx: ProbeContext) -> ProbeResult:
    outputs = call(ctx, fresh(ctx))
    rows = (cotangents(outputs, 71), cotangents(outputs, 72))
    names = ctx.subject.differentiable

    def projected(*xs):
        outs = ctx.subject.call(dict(zip(names, xs)), device=device(ctx))
        return torch.stack([torch.stack([(o * c).sum() for o, c in zip(outs, cots) if c is not None]).sum()
                            for cots in rows])

    xs = tuple(ctx.leaves[n].detach() for n in names)
    try:
        ctx.cost.forward_calls += 1
        ctx.cost.backward_calls += 1
        with seeded():
            jac = torch.func.jacrev(projected, argnums=tuple(range(len(names))))(*xs)
    except Exception as e:
        return refused(NAME, ctx, e, COMPARED, "backward")
    wrong = []
    for r, cots in enumerate(rows):
        want = ctx.truth.vjp(cots)
        wrong += [n for n, j in zip(names, jac) if not good(ctx, j[r], want[n], n) and n not in wrong]
    if wrong:
        return row(NAME, False, f"rows of the Jacobian differ from the truth for {', '.join(wrong)}", COMPARED)
    return row(NAME, True, "Jacobian rows match the truth", COMPARED)
