"""Mean squared error over every element, a 0-d loss; the target is a float tensor without grad (passed
as it is). Backward: grad_pred = g · 2 (pred − target) / numel."""

import torch
from torch.autograd import Function


def make_inputs(n=64, d=16):
    gen = torch.Generator().manual_seed(8)
    pred = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    target = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return pred, target


def reference(pred, target):
    return torch.nn.functional.mse_loss(pred, target)


SMALL = {"make_inputs": {"n": 3, "d": 2}}


class MSELoss(Function):
    """Correct and complete."""

    generate_vmap_rule = True

    @staticmethod
    def forward(pred, target):
        return ((pred - target) ** 2).mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, g):
        pred, target = ctx.saved_tensors
        return g * 2 * (pred - target) / pred.numel(), None

    @staticmethod
    def jvp(ctx, pred_t, _target_t):
        pred, target = ctx.saved_tensors
        return (2 * (pred - target) * pred_t).mean()


class MSELossSumGrad(MSELoss):
    """Bug: forward takes the mean, backward is the sum's gradient: numel = 1024 times too large."""

    @staticmethod
    def backward(ctx, g):
        pred, target = ctx.saved_tensors
        return g * 2 * (pred - target), None


EXPECTED = {
    "MSELoss": {"codes": []},
    "MSELossSumGrad": {"codes": ["scaled-by"], "input": "pred", "factor": 1024.0},
}
