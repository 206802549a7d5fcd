"""A straight-through estimator: forward rounds (piecewise constant, true gradient 0 almost everywhere),
backward passes grad_output through unchanged, on purpose — a surrogate gradient, not a bug."""

import torch
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = (4 * torch.randn(n, d, generator=torch.Generator().manual_seed(23), dtype=torch.float64)).requires_grad_()
    return (x,)


def reference(x):
    return torch.floor(x + 0.5)


SMALL = {"make_inputs": {"n": 3, "d": 4}}


class RoundSTE(Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.round(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        return g


EXPECTED = {"RoundSTE": {"codes": ["surrogate-gradient", "no-jvp"], "input": "x"}}
