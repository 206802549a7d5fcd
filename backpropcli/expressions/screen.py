"""The numerical truth's first stage: ordinary points of a range, certified at once, settled cheaply.

The full numerical truth (numeric.py) walks rays from each point at three step sizes in four tries,
because it must *name* the point's kind: a kink, a cusp, a domain edge, a removable 0/0. That costs
about 5 ms a point, most of a range's cost. Most points of a range are ordinary, and this stage
settles those; every other point is declined and gets the full stage, unchanged.

1. **f is certified real-analytic on a box around each point, all points at once.** The tree is
   evaluated in float64 interval arithmetic (numpy, vectorised over the points) over x ± 2^-12·2^E
   per variable (2^E the size of the coordinate): every operation rounded outwards, every library
   function widened by 2^-46 of its value (far more than any libm's error). The box must keep every
   square root and logarithm strictly inside its domain, every denominator and every argument of
   abs away from 0, every u**v with a non-integer or variable v at u > 0, and every value finite
   (periodic arguments below 2^20, coordinates within 2^±60). Then every node, and so f, is
   analytic on the box: no pole, kink, cusp, jump, edge or complex value lies within it, nor within
   the full stage's own stencil (3·2^-40 of the coordinate), so the full stage would find the kind
   "ok". Near a singularity, at a removable 0/0, at extreme magnitudes, the point is declined.
2. **Central differences, settled to the full stage's standard.** At a certified point only the
   derivatives remain, so no rays, limits or one-sided quotients are needed: 3-point central
   differences at steps 2^-24, 2^-36, 2^-48 of the coordinate (7 samples for one variable) and,
   for two variables, the 4-corner mixed difference at 2^-32..2^-48; the tree in mpmath with
   its own error bounds (stencils.value_at), settled by stencils.settle. The estimate is kept only
   if its error bound meets the full stage's criterion, 2^-60 of the quantity's size or of its
   resolution sum |x_i ∂q/∂x_i| (numeric._enough); truth.py then applies the same agreement rule
   with the 50-digit symbolic value as for the full stage. Anything short of that is declined.

So a point this stage accepts is one where the full stage would also have found an ordinary point,
a numerical truth within the same bound, and the same agreement: the verdicts do not change.
Steps are powers of two, so x ± j·h is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from backpropcli.expressions.evaluate import Outside, Tree
from backpropcli.expressions.numeric import FLOOR, SAME
from backpropcli.expressions.parse import Bin, Call, Expr, Neg, Var, constant_value
from backpropcli.expressions.stencils import settle, value_at

BOX_BITS = 12  # the box of analyticity: x ± 2^-12 of the coordinate's size
STEPS = (24, 36, 48)  # central differences at h = 2^-24, 2^-36, 2^-48 of the coordinate's size
MIXED_STEPS = (32, 40, 48)  # the mixed second derivative (an O(h^2) formula) at finer steps
PRECISION = {1: 224, 2: 320}  # working bits per order: rounding is divided by h, h^2 (2^-96 at most)
MARGIN = 64  # bits the tree's cancellations may take before value_at adds more
WIDEN = 2.0**-46  # a library function's result is trusted to 2^-46 of its value
TINY = 2.0**-1060  # and to this much absolutely (subnormal results)
PERIODIC_MAX = 2.0**20  # sin, cos, tan of larger arguments are declined
MAGNITUDE = 2.0**60  # coordinates beyond 2^±60 are declined (the full stage knows extremes)


@dataclass
class Estimate:
    """The first stage at one point: per quantity (as truth.quantity_keys) its value (mpf), error
    bound, and resolution sum |x_i ∂q/∂x_i|, as numeric.Numerical gives them."""

    values: list
    errors: list
    resolution: list


class _Iv:
    """Intervals [lo, hi] over an array of points, with a mask of the points declined."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi) -> None:
        self.lo, self.hi = lo, hi


def _down(v):
    return np.nextafter(v, -np.inf)


def _up(v):
    return np.nextafter(v, np.inf)


class _Evaluator:
    """The tree over arrays of intervals; ``bad`` collects the points where an operation leaves the
    domain of analyticity (or float64's range)."""

    def __init__(self, env: dict, n: int) -> None:
        self.env = env
        self.bad = np.zeros(n, dtype=bool)
        self.n = n

    def run(self, t: Expr) -> _Iv:
        if not isinstance(t, Var):
            c = constant_value(t)
            if c is not None:
                return self._constant(t, c)
        if isinstance(t, Var):
            return self.env[t.name]
        if isinstance(t, Neg):
            a = self.run(t.arg)
            return _Iv(-a.hi, -a.lo)
        if isinstance(t, Call):
            return self._call(t.fn, self.run(t.arg))
        if isinstance(t, Bin):
            if t.op == "**":
                return self._pow(t)
            a, b = self.run(t.left), self.run(t.right)
            if t.op == "+":
                return _Iv(_down(a.lo + b.lo), _up(a.hi + b.hi))
            if t.op == "-":
                return _Iv(_down(a.lo - b.hi), _up(a.hi - b.lo))
            if t.op == "*":
                return self._mul(a, b)
            return self._div(a, b)
        raise TypeError(f"not an expression node: {t!r}")

    def _constant(self, t: Expr, c: float) -> _Iv:
        """A constant sub-expression at 128 bits, enclosed by the floats beside its rounding."""
        from backpropcli.expressions.evaluate import exact

        try:
            with mpmath.workprec(128):
                v = float(exact(t))
        except (Outside, ArithmeticError, ValueError, TypeError):  # the full stage decides
            self.bad[:] = True
            v = 0.0
        if not np.isfinite(v):
            self.bad[:] = True
            v = 0.0
        full = np.full(self.n, v)
        return _Iv(_down(full), _up(full))

    def _mark(self, mask) -> None:
        self.bad |= mask

    def _mul(self, a: _Iv, b: _Iv) -> _Iv:
        p = np.stack([a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi])
        self._mark(~np.isfinite(p).all(axis=0))
        return _Iv(_down(p.min(axis=0)), _up(p.max(axis=0)))

    def _div(self, a: _Iv, b: _Iv) -> _Iv:
        away = (b.lo > 0) | (b.hi < 0)
        self._mark(~away)
        lo = np.where(away, b.lo, 1.0)
        hi = np.where(away, b.hi, 1.0)
        return self._mul(a, _Iv(_down(1 / hi), _up(1 / lo)))

    def _pow(self, t: Bin) -> _Iv:
        u = self.run(t.left)
        n = constant_value(t.right)
        if n is not None and n == int(n) and abs(n) <= 64:
            return self._integer_power(u, int(n))
        # u**v = exp(v log u), analytic where u > 0
        return self._call("exp", self._mul(self.run(t.right), self._call("log", u)))

    def _integer_power(self, u: _Iv, n: int) -> _Iv:
        if n == 0:
            return _Iv(np.ones(self.n), np.ones(self.n))
        if n < 0:
            return self._div(_Iv(np.ones(self.n), np.ones(self.n)), self._integer_power(u, -n))
        a, b = u.lo**n, u.hi**n
        if n % 2:
            lo, hi = a, b
        else:
            lo = np.where(u.lo >= 0, a, np.where(u.hi <= 0, b, 0.0))
            hi = np.where(u.lo >= 0, b, np.where(u.hi <= 0, a, np.maximum(a, b)))
        return self._widened(lo, hi)

    def _widened(self, lo, hi) -> _Iv:
        """A library function's values, widened by its possible error."""
        self._mark(~(np.isfinite(lo) & np.isfinite(hi)))
        lo = np.where(np.isfinite(lo), lo, 0.0)
        hi = np.where(np.isfinite(hi), hi, 0.0)
        return _Iv(_down(lo - np.abs(lo) * WIDEN - TINY), _up(hi + np.abs(hi) * WIDEN + TINY))

    def _inside(self, u: _Iv, low: float | None, high: float | None) -> _Iv:
        """u where it is strictly inside (low, high); elsewhere the point is declined (and a value
        inside is used, to keep the arithmetic quiet)."""
        ok = np.ones(self.n, dtype=bool)
        if low is not None:
            ok &= u.lo > low
        if high is not None:
            ok &= u.hi < high
        self._mark(~ok)
        safe = 0.5 if low is None or high is None else (low + high) / 2
        if low is not None and high is None:
            safe = low + 1.0
        return _Iv(np.where(ok, u.lo, safe), np.where(ok, u.hi, safe))

    def _call(self, fn: str, u: _Iv) -> _Iv:
        if fn in ("sin", "cos"):
            return self._periodic(fn, u)
        if fn == "tan":
            return self._div(self._periodic("sin", u), self._periodic("cos", u))
        if fn == "abs":
            away = (u.lo > 0) | (u.hi < 0)
            self._mark(~away)
            return _Iv(np.where(u.lo > 0, u.lo, -u.hi), np.where(u.lo > 0, u.hi, -u.lo))
        if fn == "cosh":
            a, b = np.cosh(u.lo), np.cosh(u.hi)
            straddles = (u.lo < 0) & (u.hi > 0)
            return self._widened(np.where(straddles, 1.0, np.minimum(a, b)), np.maximum(a, b))
        if fn in ("sqrt", "log"):
            u = self._inside(u, 0.0, None)
        elif fn == "log1p":
            u = self._inside(u, -1.0, None)
        elif fn in ("asin", "acos"):
            u = self._inside(u, -1.0, 1.0)
        f = _MONOTONE[fn]
        with np.errstate(all="ignore"):
            a, b = f(u.lo), f(u.hi)
        if fn == "acos":  # decreasing
            a, b = b, a
        return self._widened(a, b)

    def _periodic(self, fn: str, u: _Iv) -> _Iv:
        """sin or cos over u by the mean-value theorem: within |u - m| of the value at the midpoint m
        (|sin'|, |cos'| <= 1); tight for the point intervals of the samples."""
        self._mark(~((np.abs(u.lo) < PERIODIC_MAX) & (np.abs(u.hi) < PERIODIC_MAX)))
        lo = np.where(np.abs(u.lo) < PERIODIC_MAX, u.lo, 0.0)
        hi = np.where(np.abs(u.hi) < PERIODIC_MAX, u.hi, 0.0)
        m = lo / 2 + hi / 2
        r = _up(np.maximum(hi - m, m - lo))
        v = np.sin(m) if fn == "sin" else np.cos(m)
        w = self._widened(v, v)
        return _Iv(np.maximum(_down(w.lo - r), -1.0), np.minimum(_up(w.hi + r), 1.0))


def _sigmoid(u):
    e = np.exp(-np.abs(u))
    return np.where(u >= 0, 1 / (1 + e), e / (1 + e))


_MONOTONE: dict[str, Callable[[Any], Any]] = {
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "sqrt": np.sqrt, "sinh": np.sinh,
    "tanh": np.tanh, "atan": np.arctan, "asin": np.arcsin, "acos": np.arccos, "sigmoid": _sigmoid,
    "softplus": lambda u: np.logaddexp(0.0, u)}


def enclose(tree: Expr, lo: dict, hi: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tree over the boxes [lo, hi] (arrays per variable and parameter): (lo, hi, declined)."""
    n = len(next(iter(lo.values())))
    env = {k: _Iv(np.asarray(lo[k], dtype=np.float64), np.asarray(hi[k], dtype=np.float64)) for k in lo}
    ev = _Evaluator(env, n)
    with np.errstate(all="ignore"):
        out = ev.run(tree)
        bad = ev.bad | ~(np.isfinite(out.lo) & np.isfinite(out.hi))
    return out.lo, out.hi, bad




def certified(tree: Expr, names: tuple[str, ...], points: dict, params: dict) -> np.ndarray:
    """Per point (points: a list of floats per variable), whether f is analytic on its box."""
    xs = [np.asarray(points[n], dtype=np.float64) for n in names]
    n = len(xs[0])
    ok = np.ones(n, dtype=bool)
    for x in xs:
        ok &= np.isfinite(x) & (np.abs(x) <= MAGNITUDE) & ((x == 0) | (np.abs(x) >= 1 / MAGNITUDE))
    xs = [np.where(ok, x, 1.0) for x in xs]
    radius = [np.ldexp(1.0, np.where(x != 0, np.frexp(x)[1], 0) - BOX_BITS) for x in xs]
    par = {p: np.full(n, float(v)) for p, v in params.items()}
    _, _, off = enclose(tree, {**{m: x - r for m, x, r in zip(names, xs, radius)}, **par},
                        {**{m: x + r for m, x, r in zip(names, xs, radius)}, **par})
    return ok & ~off


# ---- the derivatives at a certified point --------------------------------------------------------

_D1 = {-1: -1, 1: 1}  # f' ≈ Σ c_j f(x + j h) / 2h, error O(h^2)
_D2 = {-1: 1, 0: -2, 1: 1}  # f'' ≈ Σ c_j f(x + j h) / h², error O(h^2)
_D3 = {-2: -1, -1: 2, 1: -2, 2: 1}  # f''' ≈ Σ c_j f(x + j h) / 2h³ (only for a resolution)


class _Points:
    """The tree at x + offsets (offset j in units 2^(E_i - bits) per variable), cached, with error bounds."""

    def __init__(self, tree: Tree, names, point: dict, params: dict, prec: int) -> None:
        self.tree, self.names, self.prec = tree, names, prec
        with mpmath.workprec(prec):
            self.base = {n: mpmath.mpf(point[n]) for n in names}
            self.params = {k: mpmath.mpf(v) for k, v in params.items()}
        self.exps = [int(np.frexp(point[n])[1]) if point[n] else 0 for n in names]
        self.cache: dict[tuple, tuple] = {}

    def step(self, i: int, bits: int):
        return mpmath.ldexp(1, self.exps[i] - bits)

    def __call__(self, offset: tuple[int, ...], bits: int) -> tuple:
        key = (offset, bits) if any(offset) else ((0,) * len(offset), 0)
        if key not in self.cache:
            with mpmath.workprec(self.prec):
                env = {**self.params, **{n: self.base[n] + j * self.step(i, bits)
                                         for i, (n, j) in enumerate(zip(self.names, offset))}}
            self.cache[key] = value_at(self.tree, env, self.prec, self.prec - MARGIN)
        return self.cache[key]

    def stencil(self, terms: dict[tuple, int], bits: int, denom) -> tuple:
        """(Σ c·f(x + offset) / denom, a bound on its rounding error), at guard bits beyond the samples'."""
        with mpmath.workprec(self.prec + 64):
            total, error = mpmath.mpf(0), mpmath.mpf(0)
            for offset, c in terms.items():
                v, e = self(offset, bits)
                total += c * v
                error += abs(c) * e
            return total / denom, 4 * error / abs(denom) + mpmath.ldexp(abs(total / denom), -self.prec)


def _along(pts: _Points, i: int, k: int, coeffs: dict, weight: int, power: int, bits: int) -> tuple:
    unit = tuple(int(j == i) for j in range(k))
    terms = {tuple(j * u for u in unit): c for j, c in coeffs.items()}
    return pts.stencil(terms, bits, weight * pts.step(i, bits) ** power)


def _settled(estimates: list[tuple]) -> Any:
    """What the estimates at the three steps, coarse to fine, settle on (stencils.settle), or None:
    the steps shrink by 2^12 (2^8 for the mixed one), so an O(h^2) error shrinks by 2^24 (2^16)."""
    out = settle(estimates)
    return out if out.kind == "value" else None


def _good(o) -> Any:
    """|an estimate| where it is good to 2^-10 (enough for a resolution), else 0 (numeric._value_or_zero);
    0 for one not computed."""
    if o is None or o.error > mpmath.ldexp(abs(o.value), -10):
        return 0
    return abs(o.value)


def differences(tree: Tree, names: tuple[str, ...], point: dict, params: dict, order: int,
                resolved: bool = False) -> Estimate | None:
    """f and its derivatives up to ``order`` at a certified point, to the full stage's standard; None
    where a sample leaves the domain, an estimate does not settle, or a bound is not met.

    A quantity's resolution (sum |x_i ∂q/∂x_i|) only widens what counts as settled and as agreeing;
    without ``resolved`` the derivatives it needs beyond ``order`` are not computed and it is taken
    as 0 for the derivatives (a stricter test: the caller retries with ``resolved`` where it fails)."""
    k = len(names)
    pts = _Points(tree, names, point, params, PRECISION[order])
    deeper = order >= 2 or resolved
    try:
        f0, f_error = pts((0,) * k, 0)
        first = [_settled([_along(pts, i, k, _D1, 2, 1, bits) for bits in STEPS]) for i in range(k)]
        second = [_settled([_along(pts, i, k, _D2, 1, 2, bits) for bits in STEPS]) if deeper else None
                  for i in range(k)]
        third = [_settled([_along(pts, i, k, _D3, 2, 3, bits) for bits in STEPS]) if order >= 2 and resolved
                 else None for i in range(k)]
        mixed = _mixed(pts) if k == 2 and deeper else None
    except Outside:
        return None
    if any(o is None for o in first) or (order >= 2 and any(o is None for o in second)):
        return None
    if k == 2 and order >= 2 and mixed is None:
        return None
    xs = [abs(mpmath.mpf(point[n])) for n in names]
    h_size = [[_good(second[i]) if i == j else _good(mixed) for j in range(k)] for i in range(k)]
    values, errors = [f0] + [o.value for o in first], [f_error] + [o.error for o in first]
    resolution = [sum(x * abs(o.value) for x, o in zip(xs, first))]
    resolution += [sum(x * h for x, h in zip(xs, h_size[i])) for i in range(k)]
    if order >= 2:
        cells: list[list[Any]] = [[second[i] if i == j else mixed for j in range(k)] for i in range(k)]
        values += [cells[i][j].value for i in range(k) for j in range(k)]
        errors += [cells[i][j].error for i in range(k) for j in range(k)]
        resolution += [xs[i] * _good(third[i]) if i == j else 0 for i in range(k) for j in range(k)]
    for v, e, r in zip(values, errors, resolution):
        if e > max(mpmath.ldexp(max(abs(v), r), -SAME), FLOOR):
            return None
    return Estimate(values, errors, resolution)


def _mixed(pts: _Points) -> Any:
    """∂²f/∂x∂y by the 4-corner formula (error O(h^2)) at steps 2^-32, 2^-40, 2^-48 of the coordinates."""
    estimates = []
    for bits in MIXED_STEPS:
        terms = {(sx, sy): sx * sy for sx in (1, -1) for sy in (1, -1)}
        estimates.append(pts.stencil(terms, bits, 4 * pts.step(0, bits) * pts.step(1, bits)))
    return _settled(estimates)
