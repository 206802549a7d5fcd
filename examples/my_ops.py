"""Two custom autograd.Functions for `backprop check`: one with a classic bug, one fixed.

    backprop check examples/my_ops.py:MySinc --x=-5:5:101
    backprop check examples/my_ops.py:MySincFixed --x=-5:5:101

f(x) = sin(x)/x with f(0) = 1, f'(x) = (x cos x - sin x)/x^2 with f'(0) = 0.
"""

import torch


class MySinc(torch.autograd.Function):
    """sin(x)/x, written the way many first attempts are: old-style forward(ctx, x),
    and a backward that returns f'(x) without multiplying by grad_output (right for
    loss = f.sum(), wrong for any other loss) and divides by x^2 at x = 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x == 0, torch.ones_like(x), torch.sin(x) / x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return (x * torch.cos(x) - torch.sin(x)) / x**2  # bug: grad_output is ignored


class MySincFixed(torch.autograd.Function):
    """sin(x)/x in PyTorch's documented shape: forward without ctx, setup_context,
    a backward made of torch ops (so it is differentiable twice), a jvp for forward
    mode, and generate_vmap_rule for torch.func.vmap. Near 0, where
    (x cos x - sin x)/x^2 cancels, a Taylor series takes over; torch.where sees only
    safe inputs in each branch, so no nan leaks into a gradient."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        small = x.abs() < 1e-2
        xs = torch.where(small, torch.ones_like(x), x)  # a safe input for sin(x)/x
        x2 = x * x
        return torch.where(small, 1 - x2 / 6 + x2 * x2 / 120, torch.sin(xs) / xs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * sinc_prime(x)

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return sinc_prime(x) * x_t


def sinc_prime(x):
    """f'(x) in torch ops: (x cos x - sin x)/x^2, and -x/3 + x^3/30 - x^5/840 for |x| < 1e-2."""
    small = x.abs() < 1e-2
    xs = torch.where(small, torch.ones_like(x), x)
    x2 = x * x
    series = x * (-1 / 3 + x2 / 30 - x2 * x2 / 840)
    return torch.where(small, series, (xs * torch.cos(xs) - torch.sin(xs)) / (xs * xs))


my_sinc = MySinc.apply
my_sinc_fixed = MySincFixed.apply
