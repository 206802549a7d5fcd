"""A fused linear layer, out = x @ weight.T + bias (torch.nn.functional.linear's convention), and its
classic backward bugs.

The backward of out = x Wᵀ + b for a grad_output g (n × out):
    grad_x = g W            (n × in)
    grad_W = gᵀ x           (out × in)
    grad_b = Σ_rows g       (out,)   — b is broadcast over the n rows, so its gradient is summed there.
"""

import torch
import torch.nn.functional as F
from torch.autograd import Function


def make_inputs(n=64, d_in=256, d_out=128):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64, requires_grad=True)
    weight = (torch.randn(d_out, d_in, generator=g, dtype=torch.float64) / d_in**0.5).requires_grad_()
    bias = torch.randn(d_out, generator=g, dtype=torch.float64, requires_grad=True)
    return x, weight, bias


def make_square_inputs(n=256, d=256):
    """A square weight (the shape alone cannot reveal a transposed grad_W), and x as square as W so
    grad_x and grad_W have one shape (a swap of the two cannot be seen from shapes either)."""
    return make_inputs(n, d, d)


def reference(x, weight, bias):
    return F.linear(x, weight, bias)


SMALL = {"make_inputs": {"n": 3, "d_in": 4, "d_out": 2}, "make_square_inputs": {"n": 3, "d": 3}}


class FusedLinear(Function):
    """Correct, and complete: double-differentiable backward (torch ops on saved inputs), jvp, vmap."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias):
        return torch.addmm(bias, x, weight.t())

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _ = inputs
        ctx.save_for_backward(x, weight)
        ctx.save_for_forward(x, weight)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        return grad_out @ weight, grad_out.t() @ x, grad_out.sum(0)

    @staticmethod
    def jvp(ctx, x_t, weight_t, bias_t):
        x, weight = ctx.saved_tensors
        return x_t @ weight.t() + x @ weight_t.t() + bias_t


class LinearTransposedGradWeight(FusedLinear):
    """Bug: grad_W written for the out = x @ W convention (xᵀ g), the transpose of gᵀ x. With a square W
    the shape is right, so autograd accepts it."""

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        return grad_out @ weight, x.t() @ grad_out, grad_out.sum(0)


class LinearGradWeightShape(LinearTransposedGradWeight):
    """The same bug with a non-square W (128 × 256): grad_W comes back 256 × 128, and autograd raises."""


class LinearSwappedGrads(FusedLinear):
    """Bug: the gradients returned in the wrong order (weight's first), which x and W of one shape hide."""

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_x, grad_w = grad_out @ weight, grad_out.t() @ x
        return grad_w, grad_x, grad_out.sum(0)


class LinearBiasUnsummed(FusedLinear):
    """A bias gradient left as grad_output (n × out): eager autograd sums it to (out,) itself, so the
    result is right here, but torch.func or a hand-written chain rule gets the unsummed tensor."""

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        return grad_out @ weight, grad_out.t() @ x, grad_out


EXPECTED = {
    "FusedLinear": {"codes": []},
    "LinearTransposedGradWeight": {"codes": ["transposed"], "input": "weight", "make_inputs": "make_square_inputs"},
    "LinearGradWeightShape": {"codes": ["wrong-shape"], "input": "weight"},
    "LinearSwappedGrads": {"codes": ["swapped-gradients"], "input": "x", "make_inputs": "make_square_inputs"},
    "LinearBiasUnsummed": {"codes": ["unsummed-broadcast-autograd-sums"], "input": "bias"},
}
