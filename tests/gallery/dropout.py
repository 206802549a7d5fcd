"""Inverted dropout, y = x · mask / (1 − p) with a Bernoulli(1 − p) mask drawn in forward. Forward is
random, so anything comparing two calls must draw the same mask (the same seed) for both."""

import torch
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(15), dtype=torch.float64, requires_grad=True)
    return x, 0.25


def reference(x, p):
    # the same draw as forward's (torch.rand_like under the same seed), applied through F.dropout's
    # formula written out: a mask of the kept elements, scaled by 1/(1 − p)
    keep = torch.rand_like(x) >= p
    return torch.where(keep, x / (1 - p), torch.zeros_like(x))


SMALL = {"make_inputs": {"n": 3, "d": 4}}


class Dropout(Function):
    """Correct: the mask drawn in forward is saved and reused by backward and jvp (no vmap rule: vmap
    cannot draw per-sample masks by default)."""

    @staticmethod
    def forward(x, p):
        mask = (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)
        return x * mask, mask

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, mask = output
        ctx.mark_non_differentiable(mask)
        ctx.save_for_backward(mask)
        ctx.save_for_forward(mask)

    @staticmethod
    def backward(ctx, g, _g_mask):
        (mask,) = ctx.saved_tensors
        return g * mask, None

    @staticmethod
    def jvp(ctx, x_t, _p_t):
        (mask,) = ctx.saved_tensors
        return x_t * mask, None


class DropoutRedrawsMask(Function):
    """Bug: backward draws a fresh mask instead of saving forward's, so two identical backward calls
    differ (and neither matches forward)."""

    @staticmethod
    def forward(x, p):
        return x * (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.p = inputs[1]

    @staticmethod
    def backward(ctx, g):
        mask = (torch.rand_like(g) >= ctx.p).to(g.dtype) / (1 - ctx.p)
        return g * mask, None


def reference_with_mask(x, p):
    out = reference(x, p)
    return out, torch.where(out != 0, torch.full_like(x, 1 / (1 - p)), torch.zeros_like(x))


EXPECTED = {
    "Dropout": {"codes": ["no-vmap-rule"], "reference": "reference_with_mask"},
    "DropoutRedrawsMask": {"codes": ["nondeterministic-backward", "no-vmap-rule", "no-jvp", "no-batched-grad"],
                           "input": "x"},
}
