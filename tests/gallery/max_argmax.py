"""A max along `dim` that returns (values, indices): two outputs, the int indices non-differentiable
(mark_non_differentiable). The gradient goes to each row's argmax only."""

import torch
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(22), dtype=torch.float64, requires_grad=True)
    return x, 1


def reference(x, dim):
    # the first element after a descending sort, not torch.max
    values, indices = torch.sort(x, dim, descending=True)
    return values.select(dim, 0), indices.select(dim, 0)


SMALL = {"make_inputs": {"n": 3, "d": 4}}


class MaxWithIndex(Function):
    """Correct and complete."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, dim):
        values, indices = torch.max(x, dim)
        return values, indices

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, dim = inputs
        _, indices = output
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        ctx.save_for_forward(indices)
        ctx.dim, ctx.shape = dim, x.shape

    @staticmethod
    def backward(ctx, g_values, _g_indices):
        (indices,) = ctx.saved_tensors
        grad = g_values.new_zeros(ctx.shape)
        return grad.scatter(ctx.dim, indices.unsqueeze(ctx.dim), g_values.unsqueeze(ctx.dim)), None

    @staticmethod
    def jvp(ctx, x_t, _dim_t):
        (indices,) = ctx.saved_tensors
        return x_t.gather(ctx.dim, indices.unsqueeze(ctx.dim)).squeeze(ctx.dim), None


EXPECTED = {"MaxWithIndex": {"codes": []}}
