"""Gradients returned for inputs that take none: a Python float (autograd raises on it) and an int index
tensor (autograd silently drops it, so the bug hides until the Function is used some other way)."""

import torch
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(13), dtype=torch.float64, requires_grad=True)
    return x, 2.5


def reference(x, scale):
    return scale * torch.tanh(x)


def make_index_inputs(n=64, d=256, k=16):
    gen = torch.Generator().manual_seed(14)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    return x, torch.randint(0, n, (k,), generator=gen)


def reference_rows(x, index):
    return x[index]


SMALL = {"make_inputs": {"n": 3, "d": 4}, "make_index_inputs": {"n": 4, "d": 3, "k": 5}}


class ScaledTanh(Function):
    """Bug: returns d/d scale = Σ g · tanh(x) for the Python float `scale`, which takes no gradient."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, scale):
        return scale * torch.tanh(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])
        ctx.scale = inputs[1]

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        t = torch.tanh(x)
        return g * ctx.scale * (1 - t * t), (g * t).sum()

    @staticmethod
    def jvp(ctx, x_t, _scale_t):
        (x,) = ctx.saved_tensors
        t = torch.tanh(x)
        return x_t * ctx.scale * (1 - t * t)


class SelectRowsGradIndex(Function):
    """Bug: returns zeros for the int index as if it were a float input (autograd drops it silently)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, index):
        return x.index_select(0, index)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, index = inputs
        ctx.save_for_backward(index)
        ctx.save_for_forward(index)
        ctx.shape = x.shape

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        return g.new_zeros(ctx.shape).index_add(0, index, g), torch.zeros_like(index)

    @staticmethod
    def jvp(ctx, x_t, _index_t):
        (index,) = ctx.saved_tensors
        return x_t.index_select(0, index)


EXPECTED = {
    "ScaledTanh": {"codes": ["grad-for-non-differentiable-input"], "input": "scale"},
    "SelectRowsGradIndex": {"codes": ["grad-for-non-differentiable-input"], "input": "index",
                            "make_inputs": "make_index_inputs", "reference": "reference_rows"},
}
