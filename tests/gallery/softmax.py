"""Row-wise softmax with a `dim: int` argument. Not elementwise: every output of a row moves with every
input of that row. Backward: grad_x = y ⊙ (g − Σ_dim y ⊙ g); jvp: y ⊙ (t − Σ_dim y ⊙ t)."""

import torch
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(4), dtype=torch.float64, requires_grad=True)
    return x, 1


def reference(x, dim):
    # exp(x − logsumexp(x)): a different formula from forward's max-shifted ratio
    return torch.exp(x - torch.logsumexp(x, dim, keepdim=True))


SMALL = {"make_inputs": {"n": 3, "d": 4}}


class Softmax(Function):
    """Correct and complete; the output saved (save_for_backward keeps its graph for double backward)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, dim):
        e = torch.exp(x - x.amax(dim, keepdim=True))
        return e / e.sum(dim, keepdim=True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)
        ctx.dim = inputs[1]

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (y * g).sum(ctx.dim, keepdim=True)), None

    @staticmethod
    def jvp(ctx, x_t, _dim_t):
        (y,) = ctx.saved_tensors
        return y * (x_t - (y * x_t).sum(ctx.dim, keepdim=True))


EXPECTED = {"Softmax": {"codes": []}}
