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
The forward kernels run on plain tensors only (see elementwise.py), so the
series is evaluated just where |x| < 1, by indexing. The third derivative, which
autograd differentiates further, joins its branches with the double-where
trick instead: each branch only ever sees inputs it is safe on, so no inf/nan
is computed in an untaken branch and none can leak into a gradient.
"""

from __future__ import annotations

import math

import torch
from mpmath import libmp

from backpropcli.functions.elementwise import (
    chunked,
    real_input,
    refuse_compiled_transform,
    refuse_forward_over_forward,
    save_input,
    vmap_elementwise,
)
from backpropcli.functions.graph import ADD, COS, MUL, NEG_SQUARE, RECIPROCAL, SIN, Graph
from backpropcli.functions.spec import Formulas, FunctionSpec, Reference

SERIES_CUTOFF = 1.0
TERMS = 10

# f'(x) = x * sum_{k>=1} (-1)^k 2k x^(2k-2) / (2k+1)!
D1_COEFFS = [(-1) ** k * 2 * k / math.factorial(2 * k + 1) for k in range(1, TERMS + 1)]
# f''(x) = sum_{k>=1} (-1)^k 2k(2k-1) x^(2k-2) / (2k+1)!
D2_COEFFS = [(-1) ** k * 2 * k * (2 * k - 1) / math.factorial(2 * k + 1) for k in range(1, TERMS + 1)]
# f'''(x) = x * sum_{k>=2} (-1)^k 2k(2k-1)(2k-2) x^(2k-4) / (2k+1)!
D3_COEFFS = [(-1) ** k * 2 * k * (2 * k - 1) * (2 * k - 2) / math.factorial(2 * k + 1) for k in range(2, TERMS + 2)]


def _horner(x2: torch.Tensor, coeffs: list[float]) -> torch.Tensor:
    acc = torch.full_like(x2, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * x2 + c
    return acc


# ---- forward kernels: plain tensors only (never traced by vmap or autograd) ------------------


def _with_series(direct: torch.Tensor, x: torch.Tensor, series) -> torch.Tensor:
    """Replace the direct form by the series where |x| < SERIES_CUTOFF (usually few points)."""
    small = x.abs() < SERIES_CUTOFF
    if bool(small.any()):
        direct[small] = series(x[small])
    return direct


def _value_kernel(x: torch.Tensor) -> torch.Tensor:
    # sin(x)/x is within an ulp or so for every x != 0; only 0/0 needs the limit
    return torch.where(x == 0, 1.0, torch.sin(x) / x)


def _prime_kernel(x: torch.Tensor) -> torch.Tensor:
    # (cos x - sin x / x) / x, in place on the kernel's own fresh tensors: two allocations fewer of
    # each chunk (the backward is ~6% faster on 10^7 points); x itself is never written
    direct, quotient = torch.cos(x), torch.sin(x)
    quotient.div_(x)
    direct.sub_(quotient).div_(x)
    return _with_series(direct, x, lambda xs: xs * _horner(xs * xs, D1_COEFFS))


def _second_kernel(x: torch.Tensor) -> torch.Tensor:
    f = torch.sin(x) / x
    direct = -(f + 2 * ((torch.cos(x) - f) / x) / x)
    return _with_series(direct, x, lambda xs: _horner(xs * xs, D2_COEFFS))


def sinc_value(x: torch.Tensor) -> torch.Tensor:
    return chunked(_value_kernel, (x,))


def sinc_prime(x: torch.Tensor) -> torch.Tensor:
    return chunked(_prime_kernel, (x,))


def sinc_second(x: torch.Tensor) -> torch.Tensor:
    return chunked(_second_kernel, (x,))


# ---- the third derivative, in traceable torch ops (autograd differentiates it further) ------


def _branches(x: torch.Tensor):
    """Double where: the series sees 0 where x is large, the direct form sees 1 where x is small,
    so no inf/nan is ever computed in an untaken branch (and none leaks into a gradient)."""
    small = x.abs() < SERIES_CUTOFF
    x_small = torch.where(small, x, torch.zeros_like(x))
    x_large = torch.where(small, torch.ones_like(x), x)
    return small, x_small, x_large


def sinc_third(x: torch.Tensor) -> torch.Tensor:
    """f'''(x) = -(f + x f' + 3 f'')/x, from differentiating (x f)'' = -x f once more;
    f'''(0) = 0. Only third and higher derivatives use it."""
    small, xs, xl = _branches(x)
    f = torch.sin(xl) / xl
    d1 = (torch.cos(xl) - f) / xl
    d2 = -(f + 2 * d1 / xl)
    return torch.where(small, xs * _horner(xs * xs, D3_COEFFS), -(f + xl * d1 + 3 * d2) / xl)


class Sinc(torch.autograd.Function):
    """f(x) = sin(x)/x with f(0) = 1; f'(x) = (x cos x - sin x)/x^2 with f'(0) = 0.

    The backward multiplies the upstream gradient by f'(x), computed by SincGrad,
    a second Function whose own backward is the hand-derived f''; so the
    backward is itself differentiable and a second backward pass gives f''.
    """

    @staticmethod
    def forward(x):
        refuse_compiled_transform("sinc")
        return sinc_value(real_input(x, "sinc"))

    setup_context = staticmethod(save_input)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * SincGrad.apply(x)

    @staticmethod
    def jvp(ctx, x_t):
        refuse_forward_over_forward("sinc")
        (x,) = ctx.saved_tensors
        return SincGrad.apply(x) * x_t

    @staticmethod
    def vmap(info, in_dims, x):
        return vmap_elementwise(Sinc.apply, in_dims, x)


class SincGrad(torch.autograd.Function):
    """f'(x) = (cos x - sinc x)/x with f'(0) = 0; its derivative
    f''(x) = -(sinc x + 2 f'(x)/x) with f''(0) = -1/3 is computed by SincSecond."""

    @staticmethod
    def forward(x):
        refuse_compiled_transform("sinc")
        return sinc_prime(real_input(x, "sinc"))

    setup_context = staticmethod(save_input)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * SincSecond.apply(x)

    @staticmethod
    def jvp(ctx, x_t):
        refuse_forward_over_forward("sinc")
        (x,) = ctx.saved_tensors
        return SincSecond.apply(x) * x_t

    @staticmethod
    def vmap(info, in_dims, x):
        return vmap_elementwise(SincGrad.apply, in_dims, x)


class SincSecond(torch.autograd.Function):
    """f''(x) = -(sinc x + 2 f'(x)/x) with f''(0) = -1/3; its derivative
    f'''(x) = -(f + x f' + 3 f'')/x with f'''(0) = 0."""

    @staticmethod
    def forward(x):
        refuse_compiled_transform("sinc")
        return sinc_second(real_input(x, "sinc"))

    setup_context = staticmethod(save_input)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * sinc_third(x)

    @staticmethod
    def jvp(ctx, x_t):
        refuse_forward_over_forward("sinc")
        (x,) = ctx.saved_tensors
        return sinc_third(x) * x_t

    @staticmethod
    def vmap(info, in_dims, x):
        return vmap_elementwise(SincSecond.apply, in_dims, x)


sinc = Sinc.apply


def graph(g: Graph) -> str:
    """Figure 4: v1 = 1/x, v2 = sin x, v3 = v1*v2 (nan at x = 0: inf * 0)."""
    g.op("v1", "1/x", RECIPROCAL, "x")
    g.op("v2", "sin(x)", SIN, "x")
    g.op("v3", "v1·v2", MUL, "v1", "v2")
    return "v3"


def derivative_graph(g: Graph) -> str:
    """The report's f' = v2*(-1/x^2) + v1*cos x, as a graph."""
    g.op("v1", "1/x", RECIPROCAL, "x")
    g.op("v2", "sin(x)", SIN, "x")
    g.op("v4", "cos(x)", COS, "x")
    g.op("v5", "-v1·v1", NEG_SQUARE, "v1")
    g.op("v6", "v2·v5", MUL, "v2", "v5")
    g.op("v7", "v1·v4", MUL, "v1", "v4")
    g.op("v8", "v6 + v7", ADD, "v6", "v7")
    return "v8"


# 50 significant digits need 50·log2(10) ≈ 166 bits
BITS = 170
TWO = libmp.from_int(2)


def _bits(x0: float) -> int:
    """Working precision: near 0 the closed forms lose about 3·log2(1/|x|) bits to cancellation."""
    if x0 == 0 or abs(x0) >= 1:
        return BITS
    return BITS + 3 * -math.frexp(x0)[1] + 20


def reference(inputs: dict, params: dict, order: int = 1) -> Reference:
    """The closed forms at 50 significant digits, with the limits at x = 0.

    Written on mpmath's raw numbers (mpmath.libmp) rather than its mpf objects:
    the same arithmetic at a third of the cost, which matters at 10^5 points.
    """
    x0 = inputs["x"]
    ax = abs(x0)
    # sizes of the cancelling terms: (cos x, sin x / x)/x for |x| >= 1
    d1_scale = ax if ax < 1 else 1 / ax
    d2_scale = 1 / max(1.0, ax)
    hessian: list[list[float]] | None = None
    if x0 == 0:
        f, d1 = 1.0, 0.0
        if order >= 2:
            hessian = [[-1 / 3]]
    else:
        p = _bits(x0)
        x = libmp.from_float(x0)
        c, s = libmp.mpf_cos_sin(x, p)
        xc = libmp.mpf_mul(x, c, p)
        x2 = libmp.mpf_mul(x, x, p)
        f = _float(libmp.mpf_div(s, x, p))  # sin x / x
        d1 = _float(libmp.mpf_div(libmp.mpf_sub(xc, s, p), x2, p))  # (x cos x - sin x)/x²
        if order >= 2:  # ((2 - x²) sin x - 2x cos x)/x³
            top = libmp.mpf_sub(libmp.mpf_mul(libmp.mpf_sub(TWO, x2, p), s, p), libmp.mpf_mul(TWO, xc, p), p)
            hessian = [[_float(libmp.mpf_div(top, libmp.mpf_mul(x2, x, p), p))]]
    return Reference(
        value=f,
        value_scale=abs(f),
        gradient={"x": d1},
        gradient_scale={"x": d1_scale},
        hessian=hessian,
        hessian_scale=[[d2_scale]] if order >= 2 else None,
    )


def _float(value) -> float:
    return libmp.to_float(value, rnd=libmp.round_nearest)


SPEC = FunctionSpec(
    name="sinc",
    summary="f(x) = sin(x)/x, report section 3.2",
    points={"x": [2.0]},  # the report's worked example
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
    derivative_graph_title="report's f′ graph",
    heading="sin(x)/x (section 3.2, Figure 4)",
    singular_points=(0.0,),
)
