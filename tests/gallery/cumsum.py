"""An inclusive cumulative sum along `dim`, y_i = Σ_{j ≤ i} x_j. Its backward is the reversed inclusive
cumsum of grad_output, grad_x_j = Σ_{i ≥ j} g_i; the exclusive scan (Σ_{i > j}) is the off-by-one."""

import torch
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(6), dtype=torch.float64, requires_grad=True)
    return x, 1


def reference(x, dim):
    # a matrix product with the upper-triangular ones (U[j, i] = 1 for j ≤ i) instead of a scan
    moved = x.movedim(dim, -1)
    size = moved.shape[-1]
    upper = torch.triu(torch.ones(size, size, dtype=x.dtype))
    return (moved @ upper).movedim(-1, dim)


SMALL = {"make_inputs": {"n": 3, "d": 4}}


def _reverse_cumsum(g, dim):
    return g.flip(dim).cumsum(dim).flip(dim)


class Cumsum(Function):
    """Correct and complete (linear, so jvp is the cumsum of the tangent)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, dim):
        return torch.cumsum(x, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.dim = inputs[1]

    @staticmethod
    def backward(ctx, g):
        return _reverse_cumsum(g, ctx.dim), None

    @staticmethod
    def jvp(ctx, x_t, _dim_t):
        return torch.cumsum(x_t, ctx.dim)


class CumsumExclusive(Cumsum):
    """Bug: the backward uses the exclusive reversed scan (Σ_{i > j} g_i), missing each element's own
    term: custom = truth − g."""

    @staticmethod
    def backward(ctx, g):
        return _reverse_cumsum(g, ctx.dim) - g, None


EXPECTED = {
    "Cumsum": {"codes": []},
    "CumsumExclusive": {"codes": ["shifted"], "input": "x"},
}
