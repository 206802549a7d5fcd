"""A backward marked @once_differentiable (it runs under no_grad, as a kernel wrapper's does): the first
derivative is right, double backward is refused. Sigmoid, y' = y (1 − y)."""

import torch
from torch.autograd import Function
from torch.autograd.function import once_differentiable


def make_inputs(n=64, d=256):
    x = (2 * torch.randn(n, d, generator=torch.Generator().manual_seed(19), dtype=torch.float64)).requires_grad_()
    return (x,)


def reference(x):
    return 1 / (1 + torch.exp(-x))


SMALL = {"make_inputs": {"n": 3, "d": 4}}


class SigmoidOnce(Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.sigmoid(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)

    @staticmethod
    def jvp(ctx, x_t):
        (y,) = ctx.saved_tensors
        return x_t * y * (1 - y)


EXPECTED = {"SigmoidOnce": {"codes": ["not-twice-differentiable"]}}
