"""A 50-digit evaluator of sympy expressions: f and its symbolic derivatives compiled to mpmath.

f and its derivatives are compiled once, after common sub-expression elimination, into a flat
program of mpmath operations; one point costs a few hundred mpmath operations, so 10^4 points take
about a second, not one sympy call each. The working precision adapts to cancellation: every sum
records how many leading bits its terms cancel, and a point whose total loss eats into the spare
bits is evaluated again with that many more.

Every value is real or the output is undefined at the point: a complex intermediate (sympy writes
the derivative of |sqrt(x)| with re, im and atan2 of sqrt(x), and (-1)**x with I) is never turned
into a real number. A sympy function without an mpmath counterpart here makes that output
unavailable at run time (the numerical truth is used), never a refusal of the expression.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mpmath
import sympy
from sympy.codegen.cfunctions import expm1 as s_expm1
from sympy.codegen.cfunctions import log1p as s_log1p

from backpropcli.expressions.evaluate import HUGE_BITS, PERIODIC_BITS
from backpropcli.expressions.symbolic import sigmoid, size, softplus

NEEDED = 176  # 50 digits are 166 bits; 10 more for rounding in the program
BITS = 200  # the first try: 24 bits to spare for cancellation
MAX_BITS = 1 << 14


class Undefined(Exception):
    """The closed form is undefined at the point (0/0, log 0, a complex value)."""


class Unavailable(Exception):
    """The closed form cannot be evaluated here at an affordable cost (sin of a 10^5-bit number,
    e^(e^1000)), or uses a function this evaluator does not know."""


def _bounded(fn, bits: int):
    """fn refuses arguments beyond 2^bits: exp-like ones would build astronomically large numbers,
    periodic ones would need log2|u| extra bits of pi to reduce the argument."""
    def call(*u):
        if u[0] and mpmath.mag(u[0]) > bits:
            raise Unavailable(f"{getattr(fn, '__name__', 'f')} of a number of {int(mpmath.mag(u[0]))} bits")
        return fn(*u)
    return call


def _real(v):
    if isinstance(v, mpmath.mpc):
        if v.imag != 0:
            raise Undefined("a complex value")
        return v.real
    if mpmath.isnan(v):
        raise Undefined("nan")
    return v


def _div(p, q):
    if not q:
        raise Undefined("division by 0")
    return p / q


def _pow(base, exp):
    if not base and exp < 0:
        raise Undefined("0 to a negative power")
    if exp and mpmath.mag(exp) > HUGE_BITS:
        raise Unavailable("a power beyond 2^(2^1100)")
    return _real(mpmath.power(base, exp))


def _guarded(fn):
    def call(*u):
        try:
            return _real(fn(*u))
        except (ZeroDivisionError, ValueError):
            raise Undefined(getattr(fn, "__name__", "f")) from None
    return call


def _sigmoid(u):
    return 1 / (1 + mpmath.exp(-u))


def _softplus(u):
    return mpmath.log1p(mpmath.exp(u)) if u < 0 else u + mpmath.log1p(mpmath.exp(-u))


def _dirac(u):
    if not u:
        raise Undefined("DiracDelta(0)")
    return mpmath.mpf(0)


def _log(u):
    if not u:
        raise Undefined("log(0)")  # -inf: no finite truth to compare with
    if u < 0:
        raise Undefined("log of a negative number")
    return mpmath.log(u)


def _arg(u):
    """arg of a real number: 0 right of 0, pi left of it, undefined at 0."""
    if not u:
        raise Undefined("arg(0)")
    return mpmath.mpf(0) if u > 0 else +mpmath.pi


def _atan2(y, x):
    if not x and not y:
        raise Undefined("atan2(0, 0)")
    return mpmath.atan2(y, x)


_EXPLIKE = (sympy.exp, s_expm1, sympy.sinh, sympy.cosh, sigmoid, softplus)
_PERIODIC = (sympy.sin, sympy.cos, sympy.tan, sympy.sec, sympy.csc, sympy.cot)
_MP: dict = {
    sympy.sin: mpmath.sin, sympy.cos: mpmath.cos, sympy.tan: mpmath.tan, sympy.sec: mpmath.sec,
    sympy.csc: mpmath.csc, sympy.cot: mpmath.cot, sympy.asin: mpmath.asin, sympy.acos: mpmath.acos,
    sympy.atan: mpmath.atan, sympy.sinh: mpmath.sinh, sympy.cosh: mpmath.cosh, sympy.tanh: mpmath.tanh,
    sympy.exp: mpmath.exp, s_expm1: mpmath.expm1, sympy.log: _log, s_log1p: mpmath.log1p, sympy.Abs: abs,
    sigmoid: _sigmoid, softplus: _softplus, sympy.sign: lambda u: mpmath.mpf(mpmath.sign(u)),
    sympy.DiracDelta: _dirac, sympy.Heaviside: lambda u: mpmath.mpf(1 if u > 0 else 0 if u < 0 else 0.5),
    # every value here is real (a complex one is Undefined), so re is the value and im is 0
    sympy.re: lambda u: u, sympy.im: lambda u: mpmath.mpf(0), sympy.arg: _arg, sympy.atan2: _atan2, size: abs,
}
_MP = {k: _guarded(_bounded(v, HUGE_BITS) if k in _EXPLIKE else _bounded(v, PERIODIC_BITS) if k in _PERIODIC
                   else v) for k, v in _MP.items()}

Step = Callable[[dict, list, list], Any]  # (env, slots, loss) -> mpf


def _unavailable(why: str) -> Step:
    def step(env, s, loss):
        raise Unavailable(why)
    return step


def _undefined(why: str) -> Step:
    def step(env, s, loss):
        raise Undefined(why)
    return step


class Program:
    """Expressions compiled to closures over mpmath, sharing common sub-expressions.

    ``run(env)`` returns, per expression, its value (mpf) or the exception that made it undefined or
    unavailable there, and the bits lost to cancellation."""

    def __init__(self, exprs: list[sympy.Expr]) -> None:
        replacements, reduced = sympy.cse(exprs, order="none")
        self.slots: dict[sympy.Symbol, int] = {}
        self.steps: list[Step] = []
        for sym, sub in replacements:
            self.steps.append(self._compile(sub))
            self.slots[sym] = len(self.steps) - 1
        self.outputs = [self._compile(e) for e in reduced]

    def _compile(self, e: sympy.Expr) -> Step:
        if e in self.slots:
            i = self.slots[e]
            return lambda env, s, loss: _slot(s[i])
        if e.is_Symbol:
            name = e.name
            return lambda env, s, loss: env[name]
        if e.is_Number or e.is_NumberSymbol or e is sympy.I:
            return _constant(e)
        args = [self._compile(a) for a in e.args]
        if e.is_Add:
            return _add(args)
        if e.is_Mul:
            return _mul(args)
        if e.is_Pow:
            return _power(e, *args)
        fn = _MP.get(e.func)
        if fn is None:
            return _unavailable(f"no evaluator for {e.func}")
        return lambda env, s, loss: fn(*(a(env, s, loss) for a in args))

    def run(self, env: dict) -> tuple[list, float]:
        loss = [0.0]
        s: list = []
        for step in self.steps:
            try:
                s.append(step(env, s, loss))
            except (Undefined, Unavailable) as exc:
                s.append(exc)  # only the outputs that use it are undefined
        out: list = []
        for output in self.outputs:
            try:
                out.append(output(env, s, loss))
            except (Undefined, Unavailable) as exc:
                out.append(exc)
        return out, loss[0]


def _slot(v):
    if isinstance(v, Exception):
        raise v
    return v


def _constant(e) -> Step:
    if e is sympy.I:
        return _undefined("the imaginary unit")
    if e.is_Integer:
        c = int(e)
        return lambda env, s, loss: mpmath.mpf(c)
    if e.is_Rational:
        p, q = int(e.p), int(e.q)
        return lambda env, s, loss: mpmath.mpf(p) / q
    if e == sympy.pi:
        return lambda env, s, loss: +mpmath.pi
    if e == sympy.E:
        return lambda env, s, loss: +mpmath.e
    if e.is_Float:
        c = mpmath.mpf(e._mpf_)  # the 50-digit float sympy holds
        return lambda env, s, loss: +c
    if e in (sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return _undefined(f"sympy gives {e}")
    return _unavailable(f"the constant {e}")


def _power(e, base: Step, ex: Step) -> Step:
    if e.exp.is_Integer:
        n = int(e.exp)
        if n == -1:
            return lambda env, s, loss: _div(1, base(env, s, loss))
        if n < 0:
            return lambda env, s, loss: _div(1, base(env, s, loss) ** -n)
        return lambda env, s, loss: base(env, s, loss) ** n
    if e.exp == sympy.Rational(1, 2):
        return lambda env, s, loss: _real(_sqrt(base(env, s, loss)))
    return lambda env, s, loss: _pow(base(env, s, loss), ex(env, s, loss))


def _sqrt(u):
    if u < 0:
        raise Undefined("sqrt of a negative number")
    return mpmath.sqrt(u)


def _add(args: list[Step]) -> Step:
    def add(env, s, loss):
        terms = [a(env, s, loss) for a in args]
        total = mpmath.fsum(terms)
        top = max((mpmath.mag(t) for t in terms if t), default=None)
        if top is not None:
            # bits of the largest term that cancel away (all of them when the sum is 0)
            loss[0] += (top - mpmath.mag(total)) if total else math.inf
        return total
    return add


def _mul(args: list[Step]) -> Step:
    def mul(env, s, loss):
        out = args[0](env, s, loss)
        for a in args[1:]:
            out = out * a(env, s, loss)
        return out
    return mul


def evaluate(program: Program, point: dict[str, float]) -> list:
    """Every output at ``point`` (floats in, exactly), each an mpf at 50 good digits or the exception
    that leaves it undefined or unavailable there."""
    bits = BITS
    while True:
        with mpmath.workprec(bits):
            env = {k: mpmath.mpf(v) for k, v in point.items()}
            out, loss = program.run(env)
            if NEEDED + loss <= bits or bits >= MAX_BITS:
                return [v if isinstance(v, Exception) else +v for v in out]
        bits = min(MAX_BITS, bits * 4 if math.isinf(loss) else int(NEEDED + loss) + 16)
