"""Leaky ReLU, y = x for x > 0 and slope · x below. A backward that keeps ReLU's mask (x > 0) forgets the
slope, and is wrong exactly where x < 0."""

import torch
import torch.nn.functional as F
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(12), dtype=torch.float64, requires_grad=True)
    return x, 0.1


def reference(x, negative_slope):
    return F.leaky_relu(x, negative_slope)


SMALL = {"make_inputs": {"n": 3, "d": 4}}


class LeakyReLU(Function):
    """Correct and complete (x = 0 has probability zero in the inputs)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, negative_slope):
        return torch.where(x > 0, x, x * negative_slope)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])
        ctx.slope = inputs[1]

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, g, g * ctx.slope), None

    @staticmethod
    def jvp(ctx, x_t, _slope_t):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, x_t, x_t * ctx.slope)


class LeakyReLUForgetsSlope(LeakyReLU):
    """Bug: ReLU's backward, g · (x > 0), pasted into the leaky version."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0), None


EXPECTED = {
    "LeakyReLU": {"codes": []},
    "LeakyReLUForgetsSlope": {"codes": ["wrong-at-points"], "input": "x",
                              "condition": {"input": "x", "op": "<", "value": 0}},
}
