"""The expression's own tree evaluated in mpmath over the real numbers: the base of the second truth.

Nothing here comes from sympy: the tree of parse.py is compiled to closures over mpmath, with the
meaning the float graph gives each operation, and no value ever leaves the real line:

    sqrt, log, log1p, asin, acos, u**v of a negative u (v not an integer)   -> NotReal
    u/0 (0/0 too), log(0), log1p(-1), 0**v with v < 0                       -> Pole
    sin of a number of more than 2^14 bits, exp of one of more than 2^1100  -> TooCostly

(sympy computes log(x)**2 at x = -1 as (i*pi)**2 = -9.87 and calls it real; here it is NotReal.)
Costs are bounded: reducing the argument of sin(u) needs about log2|u| more bits of pi, so
sin(cosh(1e8)), whose argument has 1.4e8 bits, is refused as TooCostly rather than computed for
minutes.

A call returns the value and the bits its cancellations may have cost: an addition whose result is
2^-k times its largest term loses k bits, and a function multiplies the relative error of its
argument by its condition number |u f'(u)/f(u)|, which costs log2 of that. The caller raises the
working precision when the loss eats into its spare bits.

Constant sub-expressions (the graph folds `2*pi` or `1/3` into one float) are the tree's
*literals*: evaluated exactly (1/3 is 1/3, pi is pi, at the working precision), and each may be
scaled by (1 + e) to measure how much the rounding of that float moves a result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath

from backpropcli.expressions.parse import Bin, Call, Const, Expr, Neg, Num, Var, constant_value

PERIODIC_BITS = 1 << 14  # sin/cos/tan of |u| >= 2^16384: argument reduction too costly (and meaningless)
HUGE_BITS = 1100  # exp-like functions of |u| >= 2^1100: no affordable mpf
TOTAL_ZERO = 1 << 20  # the loss recorded when a sum of nonzero terms is exactly 0 at this precision


class Outside(Exception):
    """f has no real value computed here; ``kind`` says why."""

    kind = "outside"

    def __init__(self, what: str = "") -> None:
        super().__init__(what)
        self.what = what


class NotReal(Outside):
    kind = "complex"


class Pole(Outside):
    kind = "pole"


class TooCostly(Outside):
    kind = "costly"


@dataclass
class _Run:
    """One evaluation's state: the bits lost and the literals' relative perturbations."""

    perturb: dict[int, Any]
    loss: int = 0


Closure = Callable[[dict, _Run], Any]


class Tree:
    """An expression compiled for mpmath. ``tree(env)`` (inside mpmath.workprec) is (value, bits lost);
    ``env`` maps every variable and parameter to an mpf."""

    def __init__(self, tree: Expr) -> None:
        self.literals: list[Expr] = []
        self._fn = self._compile(tree)

    def __call__(self, env: dict, perturb: dict[int, Any] | None = None) -> tuple[Any, int]:
        run = _Run(perturb or {})
        return self._fn(env, run), run.loss

    def _compile(self, t: Expr) -> Closure:
        if not isinstance(t, Var) and constant_value(t) is not None:
            index = len(self.literals)
            self.literals.append(t)

            cache: dict[int, Any] = {}

            def literal(env, run):
                prec = mpmath.mp.prec
                v = cache.get(prec)
                if v is None:
                    v = cache[prec] = exact(t)
                e = run.perturb.get(index)
                return v if e is None else v * (1 + e)
            return literal
        if isinstance(t, Var):
            name = t.name
            return lambda env, run: env[name]
        if isinstance(t, Neg):
            arg = self._compile(t.arg)
            return lambda env, run: -arg(env, run)
        if isinstance(t, Call):
            return _call(t.fn, self._compile(t.arg))
        if isinstance(t, Bin) and t.op == "-" and t.left == t.right:
            return self._self_difference(t.left)
        if isinstance(t, Bin):
            return _binary(t.op, self._compile(t.left), self._compile(t.right))
        raise TypeError(f"not an expression node: {t!r}")

    def _self_difference(self, u: Expr) -> Closure:
        """u - u: exactly 0 wherever u is finite, and no bits lost, at every precision: the two copies
        are the same number, rounding and all. Recorded as a total cancellation it sent the precision
        to its ceiling at every point (sin(x) - sin(x) + x: 55 s a point, then "uncertain"). u is still
        evaluated, so an undefined u stays undefined; where a literal of either copy is perturbed
        (conditioning moves each literal on its own) the copies differ, and it is an ordinary sum."""
        first_literal = len(self.literals)
        left, right = self._compile(u), self._compile(u)
        own = range(first_literal, len(self.literals))

        def difference(env, run):
            a = left(env, run)
            if any(i in run.perturb for i in own):
                return _sum(a, -right(env, run), run)
            return a - a  # 0, or nan where u is infinite
        return difference


def exact(t: Expr):
    """A constant sub-expression at the working precision, from the decimal the user typed."""
    if isinstance(t, Num):
        return mpmath.mpf(t.value) if isinstance(t.value, int) else mpmath.mpf(repr(t.value))
    if isinstance(t, Const):
        return +mpmath.pi if t.name == "pi" else +mpmath.e
    if isinstance(t, Neg):
        return -exact(t.arg)
    if isinstance(t, Bin):
        return _OPS[t.op](exact(t.left), exact(t.right), _Run({}))
    if isinstance(t, Call):
        return _unary(t.fn, exact(t.arg), _Run({}))
    raise TypeError(f"not a constant: {t!r}")


def _binary(op: str, left: Closure, right: Closure) -> Closure:
    fn = _OPS[op]
    return lambda env, run: fn(left(env, run), right(env, run), run)


def _call(name: str, arg: Closure) -> Closure:
    return lambda env, run: _unary(name, arg(env, run), run)


def _sum(a, b, run: _Run):
    r = a + b
    top = max(abs(a), abs(b))
    if top:
        run.loss += (mpmath.mag(top) - mpmath.mag(r)) if r else TOTAL_ZERO
    return r


def _div(a, b, run: _Run):
    if not b:
        raise Pole("division by 0")
    return a / b


def _pow(u, v, run: _Run):
    if not u:
        if v > 0:
            return mpmath.mpf(0)
        if not v:
            return mpmath.mpf(1)  # 0**0 = 1, as in the float graph
        raise Pole("0 to a negative power")
    integer = v == mpmath.floor(v)
    if integer and abs(v) <= 1 << 20:  # by squarings: exact enough and fast; condition |v|
        run.loss += int(mpmath.mag(v)) if v else 0  # mag(0) is -inf: u**0 = 1 loses nothing
        n = int(v)
        if n < 0:
            return 1 / u ** -n
        return u**n
    if u < 0 and not integer:
        raise NotReal("a negative number to a non-integer power")
    size = abs(v) * mpmath.log(abs(u), 2)
    if size and mpmath.mag(size) > HUGE_BITS:
        raise TooCostly("a power beyond 2^(2^1100)")
    if size:
        run.loss += max(0, int(mpmath.mag(size)))  # condition: |v log u| (by v), |v| (by u)
    return mpmath.power(u, v)


_OPS: dict[str, Callable] = {"+": _sum, "-": lambda a, b, run: _sum(a, -b, run), "*": lambda a, b, run: a * b,
                             "/": _div, "**": _pow}
_PERIODIC = ("sin", "cos", "tan")
_EXPLIKE = ("exp", "expm1", "sinh", "cosh", "sigmoid", "softplus")


def _unary(name: str, u, run: _Run):
    mag = mpmath.mag(u) if u else -(1 << 30)
    if name in _PERIODIC and mag > PERIODIC_BITS:
        raise TooCostly(f"{name} of a number of {mag} bits")
    if name in _EXPLIKE and mag > HUGE_BITS:
        raise TooCostly(f"{name} of a number of {mag} bits")
    r = _REAL[name](u)
    run.loss += max(0, _condition_bits(name, u, r, mag))
    return r


def _condition_bits(name: str, u, r, mag: int) -> int:
    """log2 of the condition number |u f'(u)/f(u)|, bounded from magnitudes (|sin|, |cos| <= 1)."""
    if name in ("abs", "sqrt", "atan"):
        return 0
    rmag = mpmath.mag(r) if r else -(1 << 30)
    if name in ("sin", "cos"):  # |u f'/f| <= |u|/|f|: 1 for small u, large near a zero of f
        return mag - rmag
    if name == "tan":  # |u/(sin u cos u)|
        return mag + abs(rmag)
    if name in ("exp", "expm1", "sinh", "cosh", "tanh", "sigmoid", "softplus"):  # at most about |u|
        return mag
    if name == "log":  # 1/|log u|: large near u = 1
        return -rmag
    if name == "log1p":  # |u / ((1 + u) log1p(u))|
        return mag - mpmath.mag(1 + u) - rmag
    # asin, acos: |u| / (sqrt(1 - u^2) |f|)
    edge = 1 - abs(u)
    return mag - rmag + (-mpmath.mag(edge) // 2 if edge else 0)


def _sqrt(u):
    if u < 0:
        raise NotReal("sqrt of a negative number")
    return mpmath.sqrt(u)


def _log(u):
    if u < 0:
        raise NotReal("log of a negative number")
    if not u:
        raise Pole("log(0)")
    return mpmath.log(u)


def _log1p(u):
    if u < -1:
        raise NotReal("log1p below -1")
    if u == -1:
        raise Pole("log1p(-1)")
    return mpmath.log1p(u)


def _arc(fn):
    def arc(u):
        if abs(u) > 1:
            raise NotReal(f"{fn.__name__} outside [-1, 1]")
        return fn(u)
    return arc


def _softplus(u):
    # log(1 + e^u) without cancellation on either side
    return mpmath.log1p(mpmath.exp(u)) if u < 0 else u + mpmath.log1p(mpmath.exp(-u))


_REAL: dict[str, Callable] = {
    "sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan, "asin": _arc(mpmath.asin), "acos": _arc(mpmath.acos),
    "atan": mpmath.atan, "sinh": mpmath.sinh, "cosh": mpmath.cosh, "tanh": mpmath.tanh, "exp": mpmath.exp,
    "expm1": mpmath.expm1, "log": _log, "log1p": _log1p, "sqrt": _sqrt, "abs": abs,
    "sigmoid": lambda u: 1 / (1 + mpmath.exp(-u)), "softplus": _softplus,
}


def inexact(literal: Expr, dtype: str = "float64") -> bool:
    """Whether the graph's float for a literal differs from its exact value (pi, 0.1, 1/3; not 2 or 0.5)."""
    import torch

    held = torch.tensor(constant_value(literal), dtype=getattr(torch, dtype)).item()
    with mpmath.workprec(256):
        return mpmath.mpf(held) != exact(literal)
