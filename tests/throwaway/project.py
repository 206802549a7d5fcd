"""A user's test file, copied into a throwaway project as test_linear.py by tests/test_plugin.py
and by .ci/wheel-check: two lines per test with the check_gradients fixture that installing
backpropcli provides. Linear is right; LinearTransposed returns the weight's gradient
transposed (the weight is square, so autograd's shape check cannot catch it)."""

import torch


class Linear(torch.autograd.Function):
    """y = x @ weight.T + bias."""

    @staticmethod
    def forward(x, weight, bias):
        return x @ weight.T + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _ = inputs
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        return grad_out @ weight, grad_out.T @ x, grad_out.sum(0)


class LinearTransposed(Linear):
    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        return grad_out @ weight, x.T @ grad_out, grad_out.sum(0)  # bug: the weight's gradient transposed


def make_inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    return x, weight, bias


def test_linear(check_gradients):
    check_gradients(Linear, make_inputs)


def test_linear_transposed(check_gradients):
    check_gradients(LinearTransposed, make_inputs)
