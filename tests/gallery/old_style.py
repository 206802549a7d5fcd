"""An old-style Function, forward(ctx, x): autograd and forward AD work, torch.func does not (it needs
setup_context). GELU with the tanh approximation,
y = x/2 · (1 + tanh(u)), u = c (x + 0.044715 x³), c = √(2/π)."""

import math

import torch
import torch.nn.functional as F
from torch.autograd import Function

C = math.sqrt(2 / math.pi)


def make_inputs(n=64, d=256):
    x = (2 * torch.randn(n, d, generator=torch.Generator().manual_seed(18), dtype=torch.float64)).requires_grad_()
    return (x,)


def reference(x):
    return F.gelu(x, approximate="tanh")


SMALL = {"make_inputs": {"n": 3, "d": 4}}


def _dgelu(x):
    t = torch.tanh(C * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * 0.044715 * x * x)


class GeluOldStyle(Function):
    """Correct; backward and jvp in torch ops on the saved x (double backward works)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return 0.5 * x * (1 + torch.tanh(C * (x + 0.044715 * x**3)))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _dgelu(x)

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return x_t * _dgelu(x)


EXPECTED = {"GeluOldStyle": {"codes": ["no-setup-context"]}}
