"""Log-softmax along `dim`. Backward: grad_x = g − softmax(x) · Σ_dim g; jvp: t − Σ_dim softmax(x) ⊙ t."""

import torch
import torch.nn.functional as F
from torch.autograd import Function


def make_inputs(n=64, d=256):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(5), dtype=torch.float64, requires_grad=True)
    return x, -1


def reference(x, dim):
    return F.log_softmax(x, dim)


SMALL = {"make_inputs": {"n": 3, "d": 4}}


class LogSoftmax(Function):
    """Correct and complete; backward recomputes softmax from the saved x."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, dim):
        return x - torch.logsumexp(x, dim, keepdim=True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])
        ctx.dim = inputs[1]

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g - torch.softmax(x, ctx.dim) * g.sum(ctx.dim, keepdim=True), None

    @staticmethod
    def jvp(ctx, x_t, _dim_t):
        (x,) = ctx.saved_tensors
        return x_t - (torch.softmax(x, ctx.dim) * x_t).sum(ctx.dim, keepdim=True)


EXPECTED = {"LogSoftmax": {"codes": []}}
