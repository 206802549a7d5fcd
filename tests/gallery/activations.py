"""SiLU, y = x · σ(x), elementwise, and two classic slips in its backward.
y' = σ(x) · (1 + x · (1 − σ(x))),  y'' = σ(x)(1 − σ(x)) · (2 + x · (1 − 2σ(x)))."""

import torch
import torch.nn.functional as F
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = (3 * torch.randn(n, d, generator=torch.Generator().manual_seed(11), dtype=torch.float64)).requires_grad_()
    return (x,)


def reference(x):
    return F.silu(x)


SMALL = {"make_inputs": {"n": 3, "d": 4}}


def _dsilu(x):
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


class SiLU(Function):
    """Correct and complete."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x * torch.sigmoid(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _dsilu(x)

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return x_t * _dsilu(x)


class SiLUSignFlipped(SiLU):
    """Bug: the derivative negated (a subtraction written the wrong way round)."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g * _dsilu(x)


class SiLUIgnoresGradOutput(SiLU):
    """Bug: returns the local derivative y' alone, right only when grad_output is all ones."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return _dsilu(x)


EXPECTED = {
    "SiLU": {"codes": []},
    "SiLUSignFlipped": {"codes": ["sign-flipped"], "input": "x"},
    "SiLUIgnoresGradOutput": {"codes": ["ignores-grad-output"], "input": "x"},
}
