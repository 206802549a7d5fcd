"""torch.func.grad: the functional transform of ⟨f(x), v⟩ gives the truth's Jᵀv.

torch.func runs the custom backward through its own machinery (it needs setup_context: an
old-style forward(ctx, ...) is a warning, no-setup-context). The result is compared with the
truth for a random v; when it differs but equals eager autograd's (whose first derivative was
already found wrong), the row says so. Cost: 2 forward calls, 1 backward.
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import agree, call, cotangents, device, fresh, good, refused, row, vjp

NAME = "torch.func.grad"
COMPARED = "the truth's Jᵀv for a random v"


def scalar(ctx: ProbeContext, cots: tuple):
    """x ↦ ⟨f(x), v⟩ with the differentiable inputs as positional tensors."""
    names = ctx.subject.differentiable

    def f(*xs):
        outputs = ctx.subject.call(dict(zip(names, xs)), device=device(ctx))
        return torch.stack([(o * c).sum() for o, c in zip(outputs, cots) if c is not None]).sum()

    return f


def run(ctx: ProbeContext) -> ProbeResult:
    leaves = fresh(ctx)
    outputs = call(ctx, leaves)
    cots = cotangents(outputs, 51)
    names = ctx.subject.differentiable
    xs = tuple(ctx.leaves[n].detach() for n in names)
    try:
        ctx.cost.forward_calls += 1
        ctx.cost.backward_calls += 1
        got = dict(zip(names, torch.func.grad(scalar(ctx, cots), argnums=tuple(range(len(names))))(*xs)))
    except Exception as e:
        return refused(NAME, ctx, e, COMPARED)
    want = ctx.truth.vjp(cots)
    wrong = [n for n in names if not good(ctx, got[n], want[n], n)]
    if not wrong:
        return row(NAME, True, "torch.func.grad matches the truth", COMPARED)
    eager = vjp(ctx, leaves, outputs, cots)
    if all(agree(got[n], eager[n]) for n in wrong):
        return row(NAME, False, f"agrees with eager backward, which is wrong for {', '.join(wrong)}", COMPARED)
    return row(NAME, False, f"differs from the truth and from eager backward for {', '.join(wrong)}", COMPARED)
