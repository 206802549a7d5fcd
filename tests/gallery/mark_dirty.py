"""An in-place ReLU that declares it with ctx.mark_dirty (the Function must run on a non-leaf: a leaf
that requires grad cannot be modified in place). Old style, as in-place Functions usually are:
saving an input returned as-is is refused when setup_context is overridden."""

import torch
import torch.nn.functional as F
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(21), dtype=torch.float64, requires_grad=True)
    return (x,)


def reference(x):
    return F.relu(x)


SMALL = {"make_inputs": {"n": 3, "d": 4}}


class ReluInPlace(Function):
    """Correct: x.clamp_(min=0) in place, marked dirty; backward g · (y > 0) from the saved output."""

    @staticmethod
    def forward(ctx, x):
        x.clamp_(min=0)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y > 0).to(g.dtype)


EXPECTED = {"ReluInPlace": {"codes": ["no-setup-context", "no-jvp"]}}
