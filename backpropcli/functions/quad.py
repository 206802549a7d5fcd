"""quad: f(x, y) = a·x² + b·x·y + c·y², report section 3.3.

    df/dx = 2a·x + b·y       df/dy = b·x + 2c·y
    df/da = x²   df/db = x·y   df/dc = y²
    Hessian in (x, y): [[2a, b], [b, 2c]]
"""

from __future__ import annotations

import mpmath
import torch

from backpropcli.functions.elementwise import (
    chunked,
    real_input,
    refuse_compiled_transform,
    refuse_forward_over_forward,
    vmap_elementwise,
)
from backpropcli.functions.graph import ADD, ADD3, MUL, MUL3, SQUARE, TWICE_MUL, Graph
from backpropcli.functions.spec import Formulas, FunctionSpec, Reference

PARAMS = ("a", "b", "c")


def _reduce(grad: torch.Tensor, like) -> torch.Tensor | None:
    """Sum a broadcast gradient back to the shape of the input it belongs to."""
    if not isinstance(like, torch.Tensor):
        return None
    return grad.sum_to_size(like.shape) if grad.shape != like.shape else grad


def _ldexp(t: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """t·2^e, exact, in steps of at most 2^±1000 (torch.ldexp forms 2^e, which overflows past 1023)."""
    while bool((e != 0).any()):
        step = e.clamp(-1000, 1000)
        t, e = torch.ldexp(t, step), e - step
    return t


def _exact_sum(terms) -> torch.Tensor:
    """sum of coef·f1·f2·... over ``terms`` without intermediate overflow or underflow.

    Each factor is split as m·2^e (m in [1/2, 1)), so a term is a product of a few
    mantissas (never over 1, never under 2^-4) times 2^(sum of e); the terms are
    aligned on the largest exponent, added, and the sum is scaled back exactly.
    Inf/nan only where the true sum is beyond the dtype's range.
    """
    parts = []
    for coef, *factors in terms:
        m, e = torch.full_like(factors[0], float(coef)), torch.zeros_like(factors[0], dtype=torch.int32)
        for f in factors:
            fm, fe = torch.frexp(f)
            m, e = m * fm, e + fe
        parts.append((m, e))
    floor = torch.iinfo(torch.int32).min // 2
    top = torch.stack([torch.where(m == 0, floor, e) for m, e in parts]).amax(0)
    top = torch.where(top == floor, 0, top)
    # from +0.0, as Python's sum starts (so a sum of zeros keeps the sign it always had); a tensor
    # start keeps the result a tensor
    total = sum((_ldexp(m, e - top) for m, e in parts), torch.zeros_like(parts[0][0]))
    return _ldexp(total, top)


def _rescued(kernel, terms):
    """``kernel`` with a second, exact-exponent evaluation (``terms(x, y, a, b, c)``, lists
    for _exact_sum) where its result is not finite from finite inputs: 2a·x at a = 1e308,
    x = 0.25 overflows in between although the result, 5e307, does not."""

    def run(x, y, a, b, c):
        out = kernel(x, y, a, b, c)
        outs = (out,) if isinstance(out, torch.Tensor) else out
        if all(bool(torch.isfinite(o).all()) for o in outs):
            return out
        x, y, a, b, c = torch.broadcast_tensors(
            x, y, *(torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (a, b, c)))
        finite = torch.isfinite(x) & torch.isfinite(y) & torch.isfinite(a) & torch.isfinite(b) & torch.isfinite(c)
        exact = tuple(_exact_sum(t) for t in terms(x, y, a, b, c))
        fixed = tuple(torch.where(torch.isfinite(o) | ~finite, o, r) for o, r in zip(outs, exact))
        return fixed[0] if len(fixed) == 1 else fixed

    return run


def _value_kernel(x, y, a, b, c):
    return (a * x + b * y) * x + c * y * y  # a·x² + b·x·y + c·y², one multiply fewer


def _gradient_kernel(x, y, a, b, c):
    # 2·(a·x), not (2·a)·x: 2a overflows at a = 1e308 where 2a·x (x < 1/2) does not
    return 2 * (a * x) + b * y, b * x + 2 * (c * y)


_value_rescued = _rescued(_value_kernel, lambda x, y, a, b, c: [[(1, a, x, x), (1, b, x, y), (1, c, y, y)]])
_gradient_rescued = _rescued(_gradient_kernel, lambda x, y, a, b, c: [[(2, a, x), (1, b, y)], [(1, b, x), (2, c, y)]])


def _real(x, y, a, b, c):
    """x and y as real floating tensors; a, b, c as real numbers or floating tensors (see real_input)."""
    x, y = real_input(x, "quad", "x"), real_input(y, "quad", "y")
    params = []
    for name, p in zip(PARAMS, (a, b, c)):
        if isinstance(p, torch.Tensor):
            p = real_input(p, "quad", name)
        elif isinstance(p, complex) or not isinstance(p, (int, float)):
            real_input(p, "quad", name)  # raises with a clear message
        params.append(p)
    return (x, y, *params)


def _save(ctx, inputs) -> None:
    """Save x, y and the parameters that are tensors; numbers stay on ctx."""
    x, y, *params = _real(*inputs)
    ctx.is_tensor = [isinstance(p, torch.Tensor) for p in params]
    ctx.numbers = [None if t else p for p, t in zip(params, ctx.is_tensor)]
    tensors = [p for p in params if isinstance(p, torch.Tensor)]
    ctx.save_for_backward(x, y, *tensors)
    ctx.save_for_forward(x, y, *tensors)


def _saved(ctx):
    x, y, *tensors = ctx.saved_tensors
    it = iter(tensors)
    a, b, c = (next(it) if t else n for t, n in zip(ctx.is_tensor, ctx.numbers))
    return x, y, a, b, c


def _sum_terms(terms) -> torch.Tensor | None:
    """Sum of tangent * coefficient over the inputs that have a tangent (None: no tangent)."""
    out = None
    for tangent, coefficient in terms:
        if tangent is not None:
            term = coefficient(tangent)
            out = term if out is None else out + term
    return out


class Quad(torch.autograd.Function):
    """f(x, y) = a·x² + b·x·y + c·y²; df/dx = 2a·x + b·y, df/dy = b·x + 2c·y.

    a, b, c may be numbers or tensors; as tensors that require grad they get
    df/da = x², df/db = x·y, df/dc = y². The gradient in (x, y) comes from
    QuadGrad, a second Function whose own backward is the Hessian
    [[2a, b], [b, 2c]]: a second backward pass is hand-derived too.
    """

    @staticmethod
    def forward(x, y, a, b, c):
        refuse_compiled_transform("quad")
        x, y, a, b, c = _real(x, y, a, b, c)
        return chunked(_value_rescued, (x, y), (a, b, c))

    @staticmethod
    def setup_context(ctx, inputs, output):
        _save(ctx, inputs)

    @staticmethod
    def backward(ctx, g):
        x, y, a, b, c = _saved(ctx)
        need = ctx.needs_input_grad
        gx = gy = None
        if need[0] or need[1]:
            dx, dy = QuadGrad.apply(x, y, a, b, c)
            gx = _reduce(g * dx, x) if need[0] else None
            gy = _reduce(g * dy, y) if need[1] else None
        ga = _reduce(g * x * x, a) if need[2] else None
        gb = _reduce(g * x * y, b) if need[3] else None
        gc = _reduce(g * y * y, c) if need[4] else None
        return gx, gy, ga, gb, gc

    @staticmethod
    def jvp(ctx, x_t, y_t, a_t, b_t, c_t):
        refuse_forward_over_forward("quad")
        x, y, a, b, c = _saved(ctx)
        dx, dy = QuadGrad.apply(x, y, a, b, c)
        return _sum_terms([(x_t, lambda t: dx * t), (y_t, lambda t: dy * t), (a_t, lambda t: x * x * t),
                           (b_t, lambda t: x * y * t), (c_t, lambda t: y * y * t)])

    @staticmethod
    def vmap(info, in_dims, x, y, a, b, c):
        return vmap_elementwise(Quad.apply, in_dims, x, y, a, b, c)


class QuadGrad(torch.autograd.Function):
    """(df/dx, df/dy) = (2a·x + b·y, b·x + 2c·y); its derivatives are the Hessian
    [[2a, b], [b, 2c]] in (x, y), and 2x, (y, x), 2y in a, b, c."""

    @staticmethod
    def forward(x, y, a, b, c):
        refuse_compiled_transform("quad")
        x, y, a, b, c = _real(x, y, a, b, c)
        return chunked(_gradient_rescued, (x, y), (a, b, c))

    @staticmethod
    def setup_context(ctx, inputs, output):
        _save(ctx, inputs)
        # a gradient for one of (df/dx, df/dy) only (a row of the Hessian) arrives with the other
        # as None, not as a tensor of zeros: its terms are skipped, not computed as 0·b
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, gdx, gdy):
        x, y, a, b, c = _saved(ctx)
        need = ctx.needs_input_grad

        def grad(terms, like):
            total = _sum_terms(terms)  # None: no upstream term reaches it (dc with df/dy unused)
            return torch.zeros_like(like) if total is None else _reduce(total, like)

        return (
            grad([(gdx, lambda g: 2 * (a * g)), (gdy, lambda g: b * g)], x) if need[0] else None,
            grad([(gdx, lambda g: b * g), (gdy, lambda g: 2 * (c * g))], y) if need[1] else None,
            grad([(gdx, lambda g: 2 * (x * g))], a) if need[2] else None,
            grad([(gdx, lambda g: y * g), (gdy, lambda g: x * g)], b) if need[3] else None,
            grad([(gdy, lambda g: 2 * (y * g))], c) if need[4] else None,
        )

    @staticmethod
    def jvp(ctx, x_t, y_t, a_t, b_t, c_t):
        refuse_forward_over_forward("quad")
        x, y, a, b, c = _saved(ctx)
        tdx = _sum_terms([(x_t, lambda t: 2 * (a * t)), (y_t, lambda t: b * t), (a_t, lambda t: 2 * (x * t)),
                          (b_t, lambda t: y * t)])
        tdy = _sum_terms([(x_t, lambda t: b * t), (y_t, lambda t: 2 * (c * t)), (b_t, lambda t: x * t),
                          (c_t, lambda t: 2 * (y * t))])
        zero = torch.zeros_like(x)
        return (zero if tdx is None else tdx), (zero if tdy is None else tdy)

    @staticmethod
    def vmap(info, in_dims, x, y, a, b, c):
        return vmap_elementwise(QuadGrad.apply, in_dims, x, y, a, b, c, outputs=2)


quad = Quad.apply


def graph(g: Graph) -> str:
    """Figure 5: v1 = x², v2 = y², v3 = a·v1, v4 = b·x·y, v5 = c·v2, v6 = v3 + v4 + v5."""
    g.op("v1", "x²", SQUARE, "x")
    g.op("v2", "y²", SQUARE, "y")
    g.op("v3", "a·v1", MUL, "a", "v1")
    g.op("v4", "b·x·y", MUL3, "b", "x", "y")
    g.op("v5", "c·v2", MUL, "c", "v2")
    g.op("v6", "v3 + v4 + v5", ADD3, "v3", "v4", "v5")
    return "v6"


def derivative_graph(g: Graph) -> str:
    """df/dx = 2a·x + b·y as a graph (the first row of the Hessian differentiates it)."""
    g.op("u1", "2a·x", TWICE_MUL, "a", "x")
    g.op("u2", "b·y", MUL, "b", "y")
    g.op("u3", "u1 + u2", ADD, "u1", "u2")
    return "u3"


def reference(inputs: dict, params: dict, order: int = 1) -> Reference:
    with mpmath.workdps(50):
        x, y = mpmath.mpf(inputs["x"]), mpmath.mpf(inputs["y"])
        a, b, c = (mpmath.mpf(params[p]) for p in PARAMS)
        terms = (a * x * x, b * x * y, c * y * y)
        gx_terms, gy_terms = (2 * a * x, b * y), (b * x, 2 * c * y)
        hessian = [[float(2 * a), float(b)], [float(b), float(2 * c)]]
        return Reference(
            value=float(sum(terms)),
            value_scale=float(sum(abs(t) for t in terms)),
            gradient={"x": float(sum(gx_terms)), "y": float(sum(gy_terms))},
            gradient_scale={"x": float(sum(abs(t) for t in gx_terms)), "y": float(sum(abs(t) for t in gy_terms))},
            hessian=hessian if order >= 2 else None,
            hessian_scale=[[abs(v) for v in row] for row in hessian] if order >= 2 else None,
        )


SPEC = FunctionSpec(
    name="quad",
    summary="f(x, y) = a*x^2 + b*x*y + c*y^2, report section 3.3",
    points={"x": [1.0], "y": [1.0]},  # the report's worked example
    variables=("x", "y"),
    params=PARAMS,
    custom=quad,
    graph=graph,
    graph_title="Figure 5",
    reference=reference,
    formulas=Formulas(
        f="a·x² + b·x·y + c·y²",
        df="(2a·x + b·y,  b·x + 2c·y)",
        d2f="[[2a, b], [b, 2c]]",
    ),
    derivative_graph=derivative_graph,
    derivative_graph_title="∂f/∂x graph",
    param_defaults={"a": 1.0, "b": 2.0, "c": 3.0},
    heading="a·x² + b·x·y + c·y² (section 3.3, Figure 5)",
)
