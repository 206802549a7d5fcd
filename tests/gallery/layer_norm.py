"""Layer norm over the last dimension, y = x̂ · weight + bias with x̂ = (x − μ) · r, r = (σ² + eps)^(-1/2)
(σ² the biased variance), and two realistic bugs.

Backward for a grad_output g, with h = g · weight and means over the last dimension:
    grad_x = r · (h − mean(h) − x̂ · mean(h · x̂))
    grad_weight = Σ_rows g · x̂,   grad_bias = Σ_rows g
Forward-mode: dx̂ = r · (dx − mean(dx)) − x̂ · r · mean(x̂ · dx).
"""

import torch
import torch.nn.functional as F
from torch.autograd import Function


def make_inputs(n=64, d=256):
    g = torch.Generator().manual_seed(1)
    x = (3 * torch.randn(n, d, generator=g, dtype=torch.float64) + 1).requires_grad_()
    weight = (1 + 0.1 * torch.randn(d, generator=g, dtype=torch.float64)).requires_grad_()
    bias = (0.1 * torch.randn(d, generator=g, dtype=torch.float64)).requires_grad_()
    return x, weight, bias, 1e-5


def reference(x, weight, bias, eps):
    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)


SMALL = {"make_inputs": {"n": 3, "d": 5}}


def _normalise(x, eps):
    mean = x.mean(-1, keepdim=True)
    rstd = torch.rsqrt(x.var(-1, unbiased=False, keepdim=True) + eps)
    return (x - mean) * rstd, rstd


class LayerNorm(Function):
    """Correct and complete: backward recomputes x̂ and r from the saved x (so double backward sees how
    they depend on x), jvp, vmap."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias, eps):
        xhat, _ = _normalise(x, eps)
        return xhat * weight + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _, eps = inputs
        ctx.save_for_backward(x, weight)
        ctx.save_for_forward(x, weight)
        ctx.eps = eps

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        xhat, rstd = _normalise(x, ctx.eps)
        h = g * weight
        grad_x = rstd * (h - h.mean(-1, keepdim=True) - xhat * (h * xhat).mean(-1, keepdim=True))
        rows = tuple(range(g.dim() - 1))
        return grad_x, (g * xhat).sum(rows), g.sum(rows), None

    @staticmethod
    def jvp(ctx, x_t, weight_t, bias_t, _eps_t):
        x, weight = ctx.saved_tensors
        xhat, rstd = _normalise(x, ctx.eps)
        xhat_t = rstd * (x_t - x_t.mean(-1, keepdim=True)) - xhat * rstd * (xhat * x_t).mean(-1, keepdim=True)
        return xhat_t * weight + xhat * weight_t + bias_t


class LayerNormMissingTerm(LayerNorm):
    """Bug: grad_x drops the − x̂ · mean(h · x̂) term (how the variance moves with x), the commonest
    slip when deriving layer norm's backward by hand. weight's and bias's gradients are right."""

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        xhat, rstd = _normalise(x, ctx.eps)
        h = g * weight
        rows = tuple(range(g.dim() - 1))
        return rstd * (h - h.mean(-1, keepdim=True)), (g * xhat).sum(rows), g.sum(rows), None


class LayerNormSavedStats(LayerNorm):
    """First derivative right, second wrong: x̂ and r are computed in forward and saved, so to double
    backward they are constants — the dependence of x̂ and r on x is lost."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _, eps = inputs
        xhat, rstd = _normalise(x.detach(), eps)
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.save_for_forward(x, weight)
        ctx.eps = eps

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, weight = ctx.saved_tensors
        h = g * weight
        grad_x = rstd * (h - h.mean(-1, keepdim=True) - xhat * (h * xhat).mean(-1, keepdim=True))
        rows = tuple(range(g.dim() - 1))
        return grad_x, (g * xhat).sum(rows), g.sum(rows), None


EXPECTED = {
    "LayerNorm": {"codes": []},
    "LayerNormMissingTerm": {"codes": ["wrong-gradient"], "input": "x"},
    "LayerNormSavedStats": {"codes": ["wrong-second-derivative"], "input": "x"},
}
