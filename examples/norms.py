"""A layer norm over the last dim for `backprop check --inputs`: one right, one with a real bug.

    backprop check examples/norms.py:LayerNorm --inputs make_inputs
    backprop check examples/norms.py:LayerNormNoMean --inputs make_inputs

y = (x − μ)/σ · weight + bias, μ and σ² the mean and (biased) variance of each row. With
x̂ = (x − μ)/σ and g = grad_output · weight, the gradient of x is

    dx = (g − mean(g) − x̂ · mean(g · x̂)) / σ

(both means over the row): the two mean terms are what make it not elementwise. The bug that
keeps coming back is dropping them, as if μ and σ did not depend on x.
"""

import torch

EPS = 1e-5


class LayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(x, weight, bias):
        mu = x.mean(-1, keepdim=True)
        sigma = (x.var(-1, unbiased=False, keepdim=True) + EPS).sqrt()
        return (x - mu) / sigma * weight + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _ = inputs
        mu = x.mean(-1, keepdim=True)
        sigma = (x.var(-1, unbiased=False, keepdim=True) + EPS).sqrt()
        ctx.save_for_backward((x - mu) / sigma, sigma, weight)

    @staticmethod
    def backward(ctx, grad):
        xhat, sigma, weight = ctx.saved_tensors
        g = grad * weight
        dx = (g - g.mean(-1, keepdim=True) - xhat * (g * xhat).mean(-1, keepdim=True)) / sigma
        rows = tuple(range(grad.dim() - 1))
        return dx, (grad * xhat).sum(rows), grad.sum(rows)


class LayerNormNoMean(LayerNorm):
    @staticmethod
    def backward(ctx, grad):
        xhat, sigma, weight = ctx.saved_tensors
        rows = tuple(range(grad.dim() - 1))
        return grad * weight / sigma, (grad * xhat).sum(rows), grad.sum(rows)  # bug: μ and σ taken as constants


def layer_norm(x, weight, bias):
    """The reference: PyTorch's own layer norm."""
    return torch.nn.functional.layer_norm(x, x.shape[-1:], weight, bias, EPS)


def make_inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16, generator=g, dtype=torch.float64, requires_grad=True)
    weight = (1 + 0.1 * torch.randn(16, generator=g, dtype=torch.float64)).requires_grad_()
    bias = (0.1 * torch.randn(16, generator=g, dtype=torch.float64)).requires_grad_()
    return x, weight, bias
