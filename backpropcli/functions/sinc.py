"""sinc: f(x) = sin(x)/x, report section 3.2 (not torch.sinc, which is sin(pi x)/(pi x)).

Derivatives, with their limits at the removable singularity x = 0:
    f(x)   = sin(x)/x                                  f(0)   = 1
    f'(x)  = (x cos x - sin x)/x^2  = (cos x - f)/x     f'(0)  = 0
    f''(x) = ((2 - x^2) sin x - 2x cos x)/x^3           f''(0) = -1/3
           = -(f + 2 f'/x)       [from (x f)'' = (sin x)'' = -x f]

Error analysis, which sets the series branch |x| < SERIES_CUTOFF:
  * f' = (cos x - f)/x subtracts two numbers near 1 whose difference is about
    -x^2/3, so the direct form has a relative error of about 3u/x^2 (u = 2^-53):
    1e-16 at x = 1 but 3e-2 at x = 1e-7 and everything at x = 1e-8. f'' inherits
    the same 1/x^2 amplification. The value sin(x)/x itself is fine except at 0.
  * The Maclaurin series below converge fast for |x| < 1: with ten terms
    (powers up to x^18 or x^19) the first omitted term, relative to the
    leading one, is at most 1/21! * (20*3/2) ~ 6e-19 for f' and 7e-18*3 ~ 2e-17
    for f'', below u/4. At the crossover x = 1 the direct forms lose only a
    few ulp (3u/x^2), so both branches are accurate to a few ulp there.
The branches are joined with the double-where trick: each branch only ever
sees inputs it is safe on, so no inf/nan is computed in the untaken branch and
none can leak into a gradient through torch.where.
"""

from __future__ import annotations

import math

import mpmath
import torch

from backpropcli.functions.graph import Graph
from backpropcli.functions.spec import Formulas, FunctionSpec, Reference

SERIES_CUTOFF = 1.0
TERMS = 10

# sin(x)/x = sum_k (-1)^k x^(2k) / (2k+1)!
VALUE_COEFFS = [(-1) ** k / math.factorial(2 * k + 1) for k in range(TERMS)]
# f'(x) = x * sum_{k>=1} (-1)^k 2k x^(2k-2) / (2k+1)!
D1_COEFFS = [(-1) ** k * 2 * k / math.factorial(2 * k + 1) for k in range(1, TERMS + 1)]
# f''(x) = sum_{k>=1} (-1)^k 2k(2k-1) x^(2k-2) / (2k+1)!
D2_COEFFS = [(-1) ** k * 2 * k * (2 * k - 1) / math.factorial(2 * k + 1) for k in range(1, TERMS + 1)]


def _horner(x2: torch.Tensor, coeffs: list[float]) -> torch.Tensor:
    acc = torch.full_like(x2, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * x2 + c
    return acc


def _branches(x: torch.Tensor):
    """Double where: the series sees 0 where x is large, the direct form sees 1 where x is small."""
    small = x.abs() < SERIES_CUTOFF
    x_small = torch.where(small, x, torch.zeros_like(x))
    x_large = torch.where(small, torch.ones_like(x), x)
    return small, x_small, x_large


def sinc_value(x: torch.Tensor) -> torch.Tensor:
    small, xs, xl = _branches(x)
    return torch.where(small, _horner(xs * xs, VALUE_COEFFS), torch.sin(xl) / xl)


def sinc_prime(x: torch.Tensor) -> torch.Tensor:
    small, xs, xl = _branches(x)
    direct = (torch.cos(xl) - torch.sin(xl) / xl) / xl
    return torch.where(small, xs * _horner(xs * xs, D1_COEFFS), direct)


def sinc_second(x: torch.Tensor) -> torch.Tensor:
    small, xs, xl = _branches(x)
    f = torch.sin(xl) / xl
    d1 = (torch.cos(xl) - f) / xl
    return torch.where(small, _horner(xs * xs, D2_COEFFS), -(f + 2 * d1 / xl))


class Sinc(torch.autograd.Function):
    """f(x) = sin(x)/x with f(0) = 1; f'(x) = (x cos x - sin x)/x^2 with f'(0) = 0.

    The backward multiplies the upstream gradient by f'(x), computed by SincGrad,
    a second Function whose own backward is the hand-derived f''; so the
    backward is itself differentiable and a second backward pass gives f''.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return sinc_value(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * SincGrad.apply(x)

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return sinc_prime(x) * x_t


class SincGrad(torch.autograd.Function):
    """f'(x) = (cos x - sinc x)/x with f'(0) = 0; its derivative is
    f''(x) = -(sinc x + 2 f'(x)/x) with f''(0) = -1/3."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return sinc_prime(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * sinc_second(x)

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return sinc_second(x) * x_t


sinc = Sinc.apply


def graph(g: Graph) -> str:
    """Figure 4: v1 = 1/x, v2 = sin x, v3 = v1*v2 (nan at x = 0: inf * 0)."""
    g.op("v1", "1/x", "reciprocal", torch.reciprocal, "x")
    g.op("v2", "sin(x)", "sin", torch.sin, "x")
    g.op("v3", "v1·v2", "mul", torch.mul, "v1", "v2")
    return "v3"


def derivative_graph(g: Graph) -> str:
    """The report's f' = v2*(-1/x^2) + v1*cos x, as a graph."""
    g.op("v1", "1/x", "reciprocal", torch.reciprocal, "x")
    g.op("v2", "sin(x)", "sin", torch.sin, "x")
    g.op("v4", "cos(x)", "cos", torch.cos, "x")
    g.op("v5", "-v1·v1", "neg_square", lambda v1: -(v1 * v1), "v1")
    g.op("v6", "v2·v5", "mul", torch.mul, "v2", "v5")
    g.op("v7", "v1·v4", "mul", torch.mul, "v1", "v4")
    g.op("v8", "v6 + v7", "add", torch.add, "v6", "v7")
    return "v8"


def _digits_lost(x: mpmath.mpf) -> int:
    """Digits the closed forms lose to cancellation near 0 (about 3*log10(1/|x|) for f'')."""
    if x == 0 or abs(x) >= 1:
        return 0
    return int(-3 * mpmath.log10(abs(x))) + 5


def reference(inputs: dict, params: dict, order: int = 1) -> Reference:
    x0 = inputs["x"]
    with mpmath.workdps(50):
        x = mpmath.mpf(x0)
        extra = _digits_lost(x)
    with mpmath.workdps(50 + extra):
        x = mpmath.mpf(x0)
        if x == 0:
            f, d1, d2 = mpmath.mpf(1), mpmath.mpf(0), mpmath.mpf(-1) / 3
        else:
            s, c = mpmath.sin(x), mpmath.cos(x)
            f = s / x
            d1 = (x * c - s) / x**2
            d2 = ((2 - x**2) * s - 2 * x * c) / x**3 if order >= 2 else None
        ax = abs(float(x0))
        # sizes of the cancelling terms: (cos x, sin x / x)/x for |x| >= 1
        d1_scale = ax if ax < 1 else 1 / ax
        d2_scale = 1 / max(1.0, ax)
        return Reference(
            value=float(f),
            value_scale=abs(float(f)),
            gradient={"x": float(d1)},
            gradient_scale={"x": d1_scale},
            hessian=[[float(d2)]] if order >= 2 else None,
            hessian_scale=[[d2_scale]] if order >= 2 else None,
        )


SPEC = FunctionSpec(
    name="sinc",
    variables=("x",),
    params=(),
    custom=sinc,
    graph=graph,
    graph_title="Figure 4",
    reference=reference,
    formulas=Formulas(
        f="sin(x)/x,  f(0) = 1",
        df="(x·cos x − sin x)/x²,  f′(0) = 0",
        d2f="((2 − x²)·sin x − 2x·cos x)/x³,  f″(0) = −1/3",
    ),
    derivative_graph=derivative_graph,
    derivative_graph_title="f′ graph (3.2)",
)
