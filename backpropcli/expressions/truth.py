"""Two truths before any verdict: sympy's derivatives at 50 digits and the tree's numerical ones.

Per point:

1. the numerical truth (numeric.py, no sympy) says what kind of point it is. A point where f is
   not real, undefined, or not differentiable gets no truth: its Reference says which, with the
   numbers that show it (left -1, right 1), and the check never judges it;
2. the symbolic program (program.py) gives every quantity at 50 digits; where its closed form is
   undefined (0/0 at a removable singularity) the two-sided symbolic limit is taken, under a
   deadline;
3. a quantity both truths give must agree within the numerical error bound (and 2^-60): then the
   50-digit symbolic value is the truth. If they disagree the point is "truth uncertain", never
   judged. Where sympy gives nothing (its limit failed or ran out of time, its derivative is
   undefined everywhere, its program took too long to build), the numerical value is the truth
   and the Reference says so.

Time is bounded: building the symbolic program of one order gets BUILD_SECONDS; each symbolic
limit gets LIMIT_SECONDS, and all the limits of one check LIMITS_SECONDS together.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import mpmath
import sympy

from backpropcli.expressions import numeric, program, scales, screen
from backpropcli.expressions.evaluate import Tree
from backpropcli.expressions.parse import Expr
from backpropcli.expressions.symbolic import SYMBOLS, gradient, hessian, sigmoid, softplus, text
from backpropcli.functions.spec import Reference
from backpropcli.io import deadline
from backpropcli.present.fmt import general

BUILD_SECONDS = 5.0
LIMIT_SECONDS = 1.0
LIMITS_SECONDS = 4.0
DIGITS = 50
UNCHECKED = ("not-real", "undefined", "not-differentiable")


class Truth:
    """f, its gradient and Hessian at a point, as a `spec.Reference`-compatible callable."""

    def __init__(self, f: sympy.Expr, tree: Expr, variables: tuple[str, ...], refuse_second: str | None = None) -> None:
        self.f, self.variables = f, variables
        self.expr, self.tree = tree, Tree(tree)
        self.refuse_second = refuse_second
        self._programs: dict[int, Any] = {}
        self.limits = deadline.Budget(LIMITS_SECONDS, LIMIT_SECONDS)
        self.certified: set[tuple] = set()
        self.stages = {"first": 0, "full": 0}  # points settled by each stage of the numerical truth

    def prepare(self) -> None:
        """A new check begins: its symbolic limits get a fresh time budget."""
        self.limits = deadline.Budget(LIMITS_SECONDS, LIMIT_SECONDS)
        self.certified = set()
        self.stages = {"first": 0, "full": 0}

    def prefetch(self, points: dict[str, list[float]], params: dict[str, float]) -> None:
        """Every point of a check at once: those where f is analytic on a box around them (screen.py)
        may take the numerical truth's first stage; the others go straight to the full one."""
        params = {k: float(v) for k, v in params.items()}
        rows = list(zip(*(points[v] for v in self.variables)))
        if not rows:
            return
        ok = screen.certified(self.expr, self.variables, points, params)
        self.certified = {_key(row, params) for row, good in zip(rows, ok) if good}

    # ---- the symbolic side --------------------------------------------------------------------

    def exprs(self, order: int) -> list[sympy.Expr]:
        k = len(self.variables)
        qs = [self.f, *gradient(self.f, self.variables)]
        if order >= 2:
            rows = hessian(self.f, self.variables)
            qs += [rows[i][j] for i in range(k) for j in range(k)]
        return qs

    def scales(self, order: int) -> list[sympy.Expr]:
        """The size of the cancelling terms of each quantity of ``exprs(order)`` (scales.py)."""
        qs = self.exprs(order)
        syms = [SYMBOLS[v] for v in self.variables]
        k = len(syms)
        out = [scales.scale_of(qs[0])] + [scales.derivative_scale(self.f, (s,), q) for s, q in zip(syms, qs[1:1 + k])]
        if order >= 2:
            out += [scales.derivative_scale(self.f, (syms[i], syms[j]), qs[1 + k + i * k + j])
                    for i in range(k) for j in range(k)]
        return out

    def program(self, order: int):
        """(Program, quantities) of ``order``, or a string saying why there is none (too slow to build)."""
        if order >= 2 and self.refuse_second:
            from backpropcli.errors import InputError

            raise InputError(self.refuse_second)
        if order not in self._programs:
            def build():
                qs = self.exprs(order)
                return program.Program(qs + self.scales(order)), qs
            try:
                self._programs[order] = deadline.within(BUILD_SECONDS, build)
            except deadline.TimeUp:
                self._programs[order] = f"sympy took longer than {general(BUILD_SECONDS)} s to prepare the derivatives"
            except (ValueError, TypeError, NotImplementedError, RecursionError) as exc:  # sympy's own limits
                self._programs[order] = f"sympy could not prepare the derivatives ({type(exc).__name__})"
        return self._programs[order]

    def _symbolic(self, point: dict, order: int) -> tuple[list, list, list | None, str]:
        """Per quantity its symbolic value (mpf) or the exception that leaves it without one; the scales;
        the sympy quantities (None when there is no program) and why there is none."""
        built = self.program(order)
        if isinstance(built, str):
            n = len(quantity_keys(self.variables, order))
            return [program.Unavailable(built)] * n, [math.nan] * n, None, built
        prog, qs = built
        out = program.evaluate(prog, point)
        n = len(qs)
        return out[:n], [_float(v) if not isinstance(v, Exception) else math.nan for v in out[n:]], qs, ""

    def _limit(self, q: sympy.Expr, point: dict) -> tuple[Any, str]:
        """The two-sided symbolic limit of q at the point (one variable after the other), or None and why."""
        subs = {SYMBOLS[k]: sympy.Rational(v) for k, v in point.items() if k not in self.variables}
        expr = q.subs(subs)
        if expr.has(sigmoid, softplus):
            expr = expr.rewrite(sympy.exp)

        def limit(e):
            for v in self.variables:
                at = sympy.Rational(point[v])  # the float's exact binary value
                direct = e.subs(SYMBOLS[v], at)
                e = direct if direct.is_finite and not direct.has(sympy.nan, sympy.zoo) else \
                    sympy.limit(e, SYMBOLS[v], at, "+-")
            return sympy.N(e, DIGITS)

        try:
            value = self.limits.run(limit, expr)
        except deadline.TimeUp:
            return None, f"sympy's limit took longer than {general(LIMIT_SECONDS)} s"
        except (ValueError, TypeError, NotImplementedError, ZeroDivisionError, AttributeError):
            return None, "sympy found no limit"
        if value.is_Number and value.is_real and value.is_finite:
            return mpmath.mpf(sympy.Float(value, DIGITS)._mpf_), ""
        if value in (sympy.oo, -sympy.oo, sympy.zoo):
            return value, ""  # a claim that f is infinite here: the numerical truth will disagree
        return None, "sympy found no limit"

    # ---- one point ----------------------------------------------------------------------------

    def __call__(self, inputs: dict, params: dict, order: int = 1) -> Reference:
        if order >= 2 and self.refuse_second:
            from backpropcli.errors import InputError

            raise InputError(self.refuse_second)
        inputs = {v: float(inputs[v]) for v in self.variables}
        params = {k: float(v) for k, v in params.items()}
        conditioning = functools.partial(numeric.conditioning, self.tree, self.variables, inputs, params, order)
        early = None
        if _key([inputs[v] for v in self.variables], params) in self.certified:
            early = self._symbolic({**params, **inputs}, order)
            first = self._first_stage(early, inputs, params, order)
            if first is not None:
                self.stages["first"] += 1
                return self._reference(first, early[1], order, source="symbolic", conditioning=conditioning)
        self.stages["full"] += 1
        num = numeric.numerical(self.tree, self.variables, inputs, params, order)
        if num.status in UNCHECKED or num.status == "uncertain":
            return self._without_truth(num, order)
        symbolic, sizes, qs, why = early or self._symbolic({**params, **inputs}, order)
        numbers = _numbers(num, len(self.variables), order)
        keys = quantity_keys(self.variables, order)
        chosen, notes, disagree = [], set(), {}
        for i, (key, s, (n, err, resolution)) in enumerate(zip(keys, symbolic, numbers)):
            if isinstance(s, program.Undefined) and qs is not None:
                s, why_not = self._limit(qs[i], {**params, **inputs})
                if s is None:
                    notes.add(why_not)
                elif not isinstance(s, mpmath.mpf):
                    disagree[key] = {"symbolic": float(s), "numerical": float(n)}
                    s = None
                sizes[i] = abs(_float(s)) if isinstance(s, mpmath.mpf) else math.nan
            elif isinstance(s, Exception):
                notes.add(why or str(s) or "sympy gives no value here")
                s = None
            if s is None:
                chosen.append(n)
            elif _agree(s, n, err, resolution):
                chosen.append(s)
            else:
                disagree[key] = {"symbolic": float(s), "numerical": float(n)}
                chosen.append(n)
        status, cause, evidence = "ok", "", {}
        if disagree:
            status, cause, evidence = "truth-uncertain", "disagree", {"quantities": disagree}
        source = "numerical" if notes else "symbolic"
        return self._reference([_float(v) for v in chosen], sizes, order, status=status, cause=cause,
                               evidence=evidence, source=source, note="; ".join(sorted(notes)),
                               conditioning=conditioning)

    def _first_stage(self, symbolic: tuple, inputs: dict, params: dict, order: int) -> list[float] | None:
        """The symbolic values, where every one exists and agrees with the first stage's numerical
        truth by the full stage's rule (_agree); None sends the point to the full stage."""
        values = symbolic[0]
        if not all(isinstance(s, mpmath.mpf) and mpmath.isfinite(s) for s in values):
            return None
        for resolved in (False, True):  # the resolutions computed only where they are needed
            est = screen.differences(self.tree, self.variables, inputs, params, order, resolved)
            if est is not None and all(_agree(s, n, err, res) for s, n, err, res in
                                       zip(values, est.values, est.errors, est.resolution)):
                return [_float(s) for s in values]
        return None

    def _without_truth(self, num: numeric.Numerical, order: int) -> Reference:
        """A point the numerical truth says has no derivative to judge (or whose truth it cannot settle)."""
        k = len(self.variables)
        n = len(quantity_keys(self.variables, order))
        values = [math.nan] * n
        if num.value is not None:
            values[0] = _float(num.value)
        if order >= 2 and len(num.gradient) == k:
            values[1:1 + k] = [_float(g) for g in num.gradient]
        status = "truth-uncertain" if num.status == "uncertain" else num.status
        return self._reference(values, [math.nan] * n, order, status=status, cause=num.cause,
                               evidence=num.evidence, source="numerical")

    def _reference(self, q: list[float], s: list[float], order: int, **extra) -> Reference:
        k = len(self.variables)
        grad = dict(zip(self.variables, q[1:1 + k]))
        grad_scale = dict(zip(self.variables, s[1:1 + k]))
        hess = hess_scale = None
        if order >= 2:
            hess = [q[1 + k + i * k:1 + k + (i + 1) * k] for i in range(k)]
            hess_scale = [s[1 + k + i * k:1 + k + (i + 1) * k] for i in range(k)]
        return Reference(value=q[0], value_scale=s[0], gradient=grad, gradient_scale=grad_scale,
                         hessian=hess, hessian_scale=hess_scale, **extra)

    def describe(self) -> str:
        return text(self.f)


def quantity_keys(variables: tuple[str, ...], order: int) -> list[str]:
    """The names of the quantities of ``order``: f, each ∂f/∂v, and each ∂²f/∂a∂b from order 2."""
    return ["f", *variables] + ([a + b for a in variables for b in variables] if order >= 2 else [])


def _key(row, params: dict) -> tuple:
    return tuple(float(v) for v in row), tuple(sorted(params.items()))


def _numbers(num: numeric.Numerical, k: int, order: int) -> list[tuple[Any, Any, Any]]:
    """(value, error bound, resolution) of every quantity of the numerical truth, as quantity_keys."""
    out = [(num.value, num.value_error)] + list(zip(num.gradient, num.gradient_error))
    if order >= 2 and num.hessian is not None and num.hessian_error is not None:
        out += [(num.hessian[i][j], num.hessian_error[i][j]) for i in range(k) for j in range(k)]
    res = list(num.resolution) + [0] * (len(out) - len(num.resolution))
    return [(v, e, r) for (v, e), r in zip(out, res)]


def _agree(s, n, err, resolution) -> bool:
    """The symbolic value is within the numerical one's error bound, and 2^-60 of the larger of their
    size and the quantity's resolution sum |x_i ∂q/∂x_i| (a difference no float verdict can see: sin(pi)
    is 1e-61 from sympy's 50-digit pi and 1e-289 numerically, both 0 for any verdict)."""
    with mpmath.workprec(256):
        scale = max(abs(s), abs(n), resolution)
        return abs(s - n) <= err + mpmath.ldexp(scale, -numeric.SAME) + numeric.FLOOR


def _float(v) -> float:
    try:
        return float(v)
    except (OverflowError, TypeError, ValueError):
        return math.nan
