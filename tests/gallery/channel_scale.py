"""A per-channel affine on channels-first activations (N, C, L), y = x · scale[c] + shift[c] (LayerScale,
BatchNorm's affine). scale and shift are broadcast over the batch and the length, so their gradients
are summed over dims (0, 2): grad_scale = Σ_{n,l} g · x, grad_shift = Σ_{n,l} g.

The bug: the sums written for channels-last (N, L, C), over dims (0, 1). With C = L, the result still
has the shape (C,), so autograd accepts it."""

import torch
from torch.autograd import Function


def make_inputs(n=8, c=64, length=64):
    gen = torch.Generator().manual_seed(24)
    x = torch.randn(n, c, length, generator=gen, dtype=torch.float64, requires_grad=True)
    scale = (1 + 0.1 * torch.randn(c, generator=gen, dtype=torch.float64)).requires_grad_()
    shift = (0.1 * torch.randn(c, generator=gen, dtype=torch.float64)).requires_grad_()
    return x, scale, shift


def reference(x, scale, shift):
    # a 1×1 grouped convolution: one weight and bias per channel
    return torch.nn.functional.conv1d(x, scale.view(-1, 1, 1), shift, groups=x.shape[1])


SMALL = {"make_inputs": {"n": 2, "c": 3, "length": 3}}


class ChannelScale(Function):
    """Correct and complete."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, scale, shift):
        return x * scale[:, None] + shift[:, None]

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, scale, _ = inputs
        ctx.save_for_backward(x, scale)
        ctx.save_for_forward(x, scale)

    @staticmethod
    def backward(ctx, g):
        x, scale = ctx.saved_tensors
        return g * scale[:, None], (g * x).sum((0, 2)), g.sum((0, 2))

    @staticmethod
    def jvp(ctx, x_t, scale_t, shift_t):
        x, scale = ctx.saved_tensors
        return x_t * scale[:, None] + x * scale_t[:, None] + shift_t[:, None]


class ChannelScaleWrongDims(ChannelScale):
    """Bug: scale's and shift's gradients summed over (0, 1), the channels-last layout's batch and length."""

    @staticmethod
    def backward(ctx, g):
        x, scale = ctx.saved_tensors
        return g * scale[:, None], (g * x).sum((0, 1)), g.sum((0, 1))


EXPECTED = {
    "ChannelScale": {"codes": []},
    "ChannelScaleWrongDims": {"codes": ["missing-broadcast-sum"], "input": "scale"},
}
