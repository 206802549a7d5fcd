"""A gallery of small autograd.Functions, one per classic bug, for the doctor's tests.

Each is complete apart from its bug (setup_context, jvp, generate_vmap_rule), so
the doctor should report exactly the bug. Most are the cube f(x) = x^3,
f'(x) = 3x^2, f''(x) = 6x.
"""

import numpy as np
import torch
from torch.autograd.function import once_differentiable


def _save_x(ctx, inputs, output):
    (x,) = inputs
    ctx.save_for_backward(x)
    ctx.save_for_forward(x)


class Cube(torch.autograd.Function):
    """Correct: f = x^3, backward grad * 3x^2 in torch ops (differentiable), jvp, vmap rule."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x * x * x

    setup_context = staticmethod(_save_x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return 3 * x * x * x_t


class IgnoresGradOutput(Cube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x


class SignFlipped(Cube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g * 3 * x * x


class ForgotTheThree(Cube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x * x


class OnceDifferentiable(Cube):
    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


class OldStyle(torch.autograd.Function):
    """Correct derivatives, but forward(ctx, x) and no setup_context."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return 3 * x * x * x_t


class Float32Output(Cube):
    @staticmethod
    def forward(x):
        return (x * x * x).float()

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return (3 * x * x * x_t).to(torch.float32)


class NoJvpNoVmap(torch.autograd.Function):
    """Correct backward, setup_context, but neither jvp nor a vmap rule."""

    @staticmethod
    def forward(x):
        return x * x * x

    setup_context = staticmethod(_save_x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


class SavedIntermediate(torch.autograd.Function):
    """f = sin x; setup_context saves cos x, computed without grad, so the first derivative is
    right and the second (d/dx of grad * cos x, with cos x a constant to autograd) is 0, not -sin x."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.sin(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(torch.cos(x))
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx, g):
        (cos_x,) = ctx.saved_tensors
        return g * cos_x

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return torch.cos(x) * x_t


class NanAtZero(torch.autograd.Function):
    """sin(x)/x with the right value at 0, but a backward (x cos x - sin x)/x^2 that is 0/0 there."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        safe = torch.where(x == 0, torch.ones_like(x), x)
        return torch.where(x == 0, torch.ones_like(x), torch.sin(safe) / safe)

    setup_context = staticmethod(_save_x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x * torch.cos(x) - torch.sin(x)) / (x * x)

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return (x * torch.cos(x) - torch.sin(x)) / (x * x) * x_t


class XSquaredY(torch.autograd.Function):
    """Correct two-input Function: f = x^2 y, df/dx = 2xy, df/dy = x^2."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, y):
        return x * x * y

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, y = inputs
        ctx.save_for_backward(x, y)
        ctx.save_for_forward(x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * 2 * x * y, g * x * x

    @staticmethod
    def jvp(ctx, x_t, y_t):
        x, y = ctx.saved_tensors
        return 2 * x * y * x_t + x * x * y_t


class Swapped(XSquaredY):
    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * x * x, g * 2 * x * y  # y's gradient in x's place


class WrongBranch(Cube):
    """Right for x >= 0, wrong (2x^2) for x < 0: no constant factor explains it... except 2/3.
    So the negative branch uses 2x: wrong-at-points."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.where(x >= 0, 3 * x * x, 2 * x)


class NumpyForward(torch.autograd.Function):
    """Correct derivatives, but forward goes through numpy: autograd cannot trace it,
    so the truth comes from finite differences. (old-style: it is not a torch.func citizen)"""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.from_numpy(np.sin(x.detach().numpy()))

    setup_context = staticmethod(_save_x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.cos(x)

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return torch.cos(x) * x_t


def square(x):
    """A plain callable of tensors (no custom backward)."""
    return x * x
