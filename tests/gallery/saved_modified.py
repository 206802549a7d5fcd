"""A saved input overwritten in place: forward saves x, then exponentiates it in place to save a copy,
without ctx.mark_dirty. The version counter does not catch it here, so backward silently reads e^x
where it meant x (and the caller's x has changed too)."""

import torch
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(16), dtype=torch.float64, requires_grad=True)
    return (x,)


def reference(x):
    return torch.special.expm1(x) + 1


SMALL = {"make_inputs": {"n": 3, "d": 4}}


class ExpSavedThenModified(Function):
    """Bug (old style, so forward can save before it modifies): backward computes g · e^x from the
    saved x, which by then holds e^x, giving g · e^(e^x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.exp_().clone()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.exp(x)


EXPECTED = {
    "ExpSavedThenModified": {"codes": ["saved-tensor-modified", "no-setup-context", "no-jvp"], "input": "x"},
}
