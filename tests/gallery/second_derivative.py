"""Softplus, y = log(1 + e^x), y' = σ(x), y'' = σ(x)(1 − σ(x)). Saving σ(x) computed in forward makes
it a constant to double backward: the first derivative is right, the second is 0."""

import torch
import torch.nn.functional as F
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = (2 * torch.randn(n, d, generator=torch.Generator().manual_seed(17), dtype=torch.float64)).requires_grad_()
    return (x,)


def reference(x):
    return F.softplus(x)


SMALL = {"make_inputs": {"n": 3, "d": 4}}


class SoftplusSavedSigmoid(Function):
    """Bug for double backward only: σ(x) is computed in forward (no graph) and saved."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.logaddexp(x, torch.zeros_like(x))

    @staticmethod
    def setup_context(ctx, inputs, output):
        sig = torch.sigmoid(inputs[0].detach())
        ctx.save_for_backward(sig)
        ctx.save_for_forward(sig)

    @staticmethod
    def backward(ctx, g):
        (sig,) = ctx.saved_tensors
        return g * sig

    @staticmethod
    def jvp(ctx, x_t):
        (sig,) = ctx.saved_tensors
        return x_t * sig


EXPECTED = {"SoftplusSavedSigmoid": {"codes": ["wrong-second-derivative"], "input": "x"}}
