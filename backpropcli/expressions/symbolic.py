"""The symbolic side: a sympy expression built from our tree (never from text), its
derivatives, and a 50-digit evaluator of them written over mpmath.

Evaluation: f and its derivatives are compiled once, after common sub-expression
elimination, into a flat program of mpmath operations; one point costs a few
hundred mpmath operations, so 10^4 points take about a second, not one sympy
call each. The working precision adapts to cancellation: every sum records how
many leading bits its terms cancel, and a point whose total loss eats into the
spare bits is evaluated again with that many more. Where the closed form is 0/0
or otherwise undefined at the point but the function is not (a removable
singularity, sin(x)/x at 0), the value is sympy's symbolic limit.

The scale of a quantity (the yardstick for an absolute error near its zeros) is
the size of the terms that really cancel in it. For f: for a sum the sum of
|terms|, for a product the product of its factors' sizes, one level deep. For a
derivative: the terms the chain rule adds (one per path from the variable to f,
the product of the |local derivatives| on it); a product or a function
application adds nothing, so sigmoid'(30) = 9.4e-14 is judged relative to
itself, not to the 1 in sympy's s*(1 - s). Both add what the float constants
carry (pi and 0.1 are rounded in the graph): sin(pi*x) at x = 1 is 1.2e-16, not 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
import sympy
from sympy.codegen.cfunctions import expm1 as s_expm1
from sympy.codegen.cfunctions import log1p as s_log1p

from backpropcli.expressions.parse import Call, Const, Expr, Neg, Num, Var
from backpropcli.functions.spec import Reference

DIGITS = 50
NEEDED = 176  # 50 digits are 166 bits; 10 more for rounding in the program
BITS = 200  # the first try: 24 bits to spare for cancellation
MAX_BITS = 1 << 14


class sigmoid(sympy.Function):
    """sigmoid(u) = 1/(1 + e^-u); its derivative sigmoid(u)*(1 - sigmoid(u))."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, u, **kwargs):
        return 1 / (1 + sympy.exp(-u))


class softplus(sympy.Function):
    """softplus(u) = log(1 + e^u); its derivative sigmoid(u)."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, u, **kwargs):
        return sympy.log(1 + sympy.exp(u))


class size(sympy.Function):
    """|u| for the scales, left unevaluated: sympy's Abs asks the assumptions system about the sign
    of its argument, which takes minutes on the second derivative of a deep composition."""

    nargs = 1


SYMBOLS = {name: sympy.Symbol(name, real=True) for name in ("x", "y", "a", "b", "c")}
_FUNCS = {"sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "asin": sympy.asin, "acos": sympy.acos,
          "atan": sympy.atan, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "exp": sympy.exp,
          "expm1": s_expm1, "log": sympy.log, "log1p": s_log1p, "sqrt": sympy.sqrt, "abs": sympy.Abs,
          "sigmoid": sigmoid, "softplus": softplus}


def to_sympy(tree: Expr) -> sympy.Expr:
    """The sympy expression of our tree. Numbers are exact rationals: integers are small and
    decimals have at most a few hundred digits (see parse.py)."""
    if isinstance(tree, Num):
        v = tree.value
        if isinstance(v, int):
            return sympy.Integer(v)
        # the decimal the user typed, exactly (0.1 is 1/10, x**0.5 is sqrt(x)); its float, which
        # the graph uses, differs by less than half an ulp
        return sympy.Rational(repr(v))
    if isinstance(tree, Const):
        return sympy.pi if tree.name == "pi" else sympy.E
    if isinstance(tree, Var):
        return SYMBOLS[tree.name]
    if isinstance(tree, Neg):
        return -to_sympy(tree.arg)
    if isinstance(tree, Call):
        return _FUNCS[tree.fn](to_sympy(tree.arg))
    left, right = to_sympy(tree.left), to_sympy(tree.right)
    return _BINARY[tree.op](left, right)


_BINARY = {"+": lambda p, q: p + q, "-": lambda p, q: p - q, "*": lambda p, q: p * q,
           "/": lambda p, q: p / q, "**": lambda p, q: p**q}


# ---- derivatives ------------------------------------------------------------------------------


def gradient(f: sympy.Expr, variables: tuple[str, ...]) -> list[sympy.Expr]:
    return [sympy.diff(f, SYMBOLS[v]) for v in variables]


def hessian(f: sympy.Expr, variables: tuple[str, ...]) -> list[list[sympy.Expr]]:
    grad = gradient(f, variables)
    rows = [[sympy.diff(g, SYMBOLS[v]) for v in variables] for g in grad]
    for i in range(len(variables)):  # symmetric: one expression for both mixed entries
        for j in range(i):
            rows[i][j] = rows[j][i]
    return rows


def refuse_undefined(f: sympy.Expr, variables: tuple[str, ...], name: str) -> None:
    """InputError when f or its gradient is undefined everywhere: x/(x - x) is zoo*x, and the
    derivative of 0**x is nan (0**x*log(0)); nothing of them can be checked."""
    from backpropcli.errors import InputError

    for which, q in [("", f), *((f"df/d{v} of ", g) for v, g in zip(variables, gradient(f, variables)))]:
        if q.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            raise InputError(f"{which}{name!r} is undefined everywhere (sympy gives {text(q)}): nothing to check")


def derivative_strings(f: sympy.Expr, variables: tuple[str, ...], order: int) -> dict[str, str]:
    """{"df/dx": "...", ...} for order 1; the second derivatives for order 2 (upper triangle)."""
    if order == 1:
        return {f"df/d{v}": text(g) for v, g in zip(variables, gradient(f, variables))}
    rows = hessian(f, variables)
    out = {}
    for i, vi in enumerate(variables):
        for j in range(i, len(variables)):
            vj = variables[j]
            key = f"d2f/d{vi}2" if i == j else f"d2f/d{vi}d{vj}"
            out[key] = text(rows[i][j])
    return out


def text(expr: sympy.Expr) -> str:
    """sympy's printing in the language's own syntax (abs, not Abs); a rational with more than
    15 digits prints as a float (1e300, not three hundred zeros)."""
    long = {r: sympy.Float(r, 15) for r in expr.atoms(sympy.Rational)
            if max(abs(r.p), r.q) > 10**15}
    return sympy.sstr(expr.xreplace(long) if long else expr).replace("Abs(", "abs(")


# ---- a 50-digit evaluator ---------------------------------------------------------------------


class _Undefined(Exception):
    """The closed form is undefined at the point (0/0, log 0, a complex result)."""


class _Overflow(Exception):
    """An exponent beyond 2^HUGE_BITS: e^(e^1000) has no float and no affordable mpf either."""


HUGE_BITS = 1100  # |u| >= 2^1100 as an exponent: the result's own exponent would not fit in memory


def _bounded(fn):
    """exp-like functions refuse astronomically large arguments instead of building huge integers."""
    def call(u):
        if u and mpmath.mag(u) > HUGE_BITS:
            raise _Overflow
        return fn(u)
    return call


def _real(v):
    if isinstance(v, mpmath.mpc):
        if v.imag != 0:
            raise _Undefined
        return v.real
    if mpmath.isnan(v):
        raise _Undefined
    return v


def _div(p, q):
    if not q:
        raise _Undefined
    return p / q


def _pow(base, exp):
    if not base and exp < 0:
        raise _Undefined
    if exp and mpmath.mag(exp) > HUGE_BITS:
        raise _Overflow
    return _real(mpmath.power(base, exp))


def _guarded(fn):
    def call(u):
        try:
            return _real(fn(u))
        except (ZeroDivisionError, ValueError):
            raise _Undefined from None
    return call


def _sigmoid(u):
    return 1 / (1 + mpmath.exp(-u))


def _softplus(u):
    return mpmath.log1p(mpmath.exp(u)) if u < 0 else u + mpmath.log1p(mpmath.exp(-u))


def _sign(u):
    return mpmath.mpf(mpmath.sign(u))


def _dirac(u):
    if not u:
        raise _Undefined
    return mpmath.mpf(0)


def _log(u):
    if not u:
        raise _Undefined  # -inf: no finite truth to compare with
    return mpmath.log(u)


_EXPLIKE = (sympy.exp, s_expm1, sympy.sinh, sympy.cosh, sigmoid, softplus)
_MP = {sympy.sin: mpmath.sin, sympy.cos: mpmath.cos, sympy.tan: mpmath.tan, sympy.asin: mpmath.asin,
       sympy.acos: mpmath.acos, sympy.atan: mpmath.atan, sympy.sinh: mpmath.sinh, sympy.cosh: mpmath.cosh,
       sympy.tanh: mpmath.tanh, sympy.exp: mpmath.exp, s_expm1: mpmath.expm1, sympy.log: _log,
       s_log1p: mpmath.log1p, sympy.Abs: abs, sigmoid: _sigmoid, softplus: _softplus,
       sympy.sign: _sign, sympy.DiracDelta: _dirac,
       # sympy writes |exp(u)| as exp(re(u)) when it cannot tell u is real; every value here is
       # real (a complex one is _Undefined), so re is the value itself and im is 0
       sympy.re: lambda u: u, sympy.im: lambda u: mpmath.mpf(0), size: abs}
_MP = {k: _guarded(_bounded(v) if k in _EXPLIKE else v) for k, v in _MP.items()}


class Program:
    """Expressions compiled to closures over mpmath, sharing common sub-expressions.

    ``run(values)`` returns the list of results (mpf) and the bits lost to cancellation.
    """

    def __init__(self, exprs: list[sympy.Expr]) -> None:
        replacements, reduced = sympy.cse(exprs, order="none")
        self.slots: dict[sympy.Symbol, int] = {}
        self.steps: list[Callable] = []
        for sym, sub in replacements:
            self.steps.append(self._compile(sub))
            self.slots[sym] = len(self.steps) - 1
        self.outputs = [self._compile(e) for e in reduced]

    def _compile(self, e: sympy.Expr) -> Callable:
        """A closure (env, slots, loss) -> mpf; loss is a one-element list of bits."""
        if e in self.slots:
            i = self.slots[e]
            return lambda env, s, loss: s[i]
        if e.is_Symbol:
            name = e.name
            return lambda env, s, loss: env[name]
        if e.is_Number or e in (sympy.pi, sympy.E) or e.is_NumberSymbol:
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
            raise ValueError(f"cannot evaluate the constant {e}")
        args = [self._compile(a) for a in e.args]
        if e.is_Add:
            return _add(args)
        if e.is_Mul:
            return _mul(args)
        if e.is_Pow:
            base, ex = args
            if e.exp.is_Integer:
                n = int(e.exp)
                if n == -1:
                    return lambda env, s, loss: _div(1, base(env, s, loss))
                if n < 0:
                    return lambda env, s, loss: _div(1, base(env, s, loss) ** -n)
                return lambda env, s, loss: base(env, s, loss) ** n
            if e.exp == sympy.Rational(1, 2):
                return lambda env, s, loss: _real(mpmath.sqrt(base(env, s, loss)))
            return lambda env, s, loss: _pow(base(env, s, loss), ex(env, s, loss))
        fn = _MP.get(e.func)
        if fn is None or len(args) != 1:
            raise ValueError(f"cannot evaluate {e.func}")
        (arg,) = args
        return lambda env, s, loss: fn(arg(env, s, loss))

    def run(self, env: dict) -> tuple[list, float]:
        loss = [0.0]
        s: list = []
        for step in self.steps:
            s.append(step(env, s, loss))
        return [out(env, s, loss) for out in self.outputs], loss[0]


def _add(args: list[Callable]) -> Callable:
    def add(env, s, loss):
        terms = [a(env, s, loss) for a in args]
        total = mpmath.fsum(terms)
        top = max((mpmath.mag(t) for t in terms if t), default=None)
        if top is not None:
            # bits of the largest term that cancel away (all of them when the sum is 0)
            loss[0] += (top - mpmath.mag(total)) if total else math.inf
        return total
    return add


def _mul(args: list[Callable]) -> Callable:
    def mul(env, s, loss):
        out = args[0](env, s, loss)
        for a in args[1:]:
            out = out * a(env, s, loss)
        return out
    return mul


def scale_of(e: sympy.Expr) -> sympy.Expr:
    """The size of the terms that cancel in the value ``e`` (see the module docstring), plus
    what the float constants in it (pi, 0.1) carry: sin(pi*x) at x = 1 is 1.2e-16 in floats,
    not 0, because pi is rounded, and |cos(pi*x)|*pi*|x| says how far that moves it.

    Built evaluated: sympy.cse mis-handles unevaluated products (for -x**2 and its scale
    1*x**2 it returned -2*x as the value), and a sum of absolute values cannot cancel anyway."""
    if e.is_Add:
        own = sympy.Add(*[sympy.Abs(t) for t in e.args])
    elif e.is_Mul:
        own = sympy.Mul(*[scale_of(a) if a.is_Add else sympy.Abs(a) for a in e.args])
    else:
        own = sympy.Abs(e)
    return own + sensitivity(e, None)  # (own keeps sympy's Abs: cse needs it evaluated)


def derivative_scale(f: sympy.Expr, wrt: tuple[sympy.Symbol, ...], d: sympy.Expr) -> sympy.Expr:
    """The size of the terms that cancel in the derivative ``d`` of ``f`` by ``wrt`` (one symbol,
    or two for a second derivative) as the chain rule evaluates it: the sum over the paths
    of the products of |local derivatives| (x*sin(x): |sin(x)| + |x*cos(x)|), never the terms
    of one function's own derivative (sigmoid's s*(1 - s) is one local derivative: its 1 - s
    is how sympy writes it, not a cancellation of f'), plus the float constants' share."""
    first = f if len(wrt) == 1 else sympy.diff(f, wrt[0])
    return sensitivity(first, wrt[-1]) + sensitivity(d, None)


def _inexact(c: sympy.Expr) -> bool:
    """Whether a constant differs from its float64 (pi, e, 0.1; not 3, 0.5 or 2**-60)."""
    if c.is_Integer:
        return abs(int(c)) > 2**53
    if c.is_Rational:
        q = int(c.q)
        return q & (q - 1) != 0 or abs(int(c.p)) > 2**53
    return True


def sensitivity(e: sympy.Expr, wrt: sympy.Symbol | None) -> sympy.Expr:
    """The chain rule with absolute values: sum over paths of |products of local derivatives|.

    By a symbol (``wrt``): the size of the terms whose sum is de/dwrt. By the float constants
    (``wrt`` None): each constant c counts |c|, so the result is how far the rounding of the
    constants (relative u each) moves e, in units of u."""
    if wrt is not None and not e.has(wrt):
        return sympy.Integer(0)
    if wrt is None and not any(_inexact(c) for c in e.atoms(sympy.Number, sympy.NumberSymbol)):
        return sympy.Integer(0)
    if e.func in (sympy.sign, sympy.DiracDelta, sympy.im):
        return sympy.Integer(0)  # flat wherever defined (as the graph's sign); im of a real is 0
    if e.func in (sympy.Abs, sympy.re, size):
        return sensitivity(e.args[0], wrt)  # |d|u|/du| = 1; re of a real is itself
    if e.is_Symbol:
        return sympy.Integer(1 if e == wrt else 0)
    if e.is_Number or e.is_NumberSymbol:
        return size(e) if wrt is None and _inexact(e) else sympy.Integer(0)
    if e.is_Add:
        return sympy.Add(*[sensitivity(t, wrt) for t in e.args])
    if e.is_Mul:
        terms = []
        for i, a in enumerate(e.args):
            s = sensitivity(a, wrt)
            if s != 0:
                terms.append(s * sympy.Mul(*[size(b) for j, b in enumerate(e.args) if j != i]))
        return sympy.Add(*terms)
    if e.is_Pow:
        base, ex = e.args
        out = sympy.Integer(0)
        sb = sensitivity(base, wrt)
        if sb != 0:
            out += size(ex * base ** (ex - 1)) * sb
        se = sensitivity(ex, wrt)
        if se != 0:
            out += size(e * sympy.log(base)) * se
        return out
    if len(e.args) == 1:
        s = sensitivity(e.args[0], wrt)
        return size(e.fdiff(1)) * s if s != 0 else sympy.Integer(0)
    return size(e)  # not reached for the language's functions


# ---- the reference ----------------------------------------------------------------------------


SECOND_ORDER_BUDGET = 100_000  # (operations in f') x (nodes in f): about the size of f''


def second_order_refusal(f: sympy.Expr, variables: tuple[str, ...], nodes: int) -> str | None:
    """Why f'' is not computed (too large to build in well under a second), or None."""
    size = sum(sympy.count_ops(g) for g in gradient(f, variables)) * max(1, nodes)
    if size > SECOND_ORDER_BUDGET:
        return (f"second derivatives of this expression are too large (about {size} operations, "
                f"limit {SECOND_ORDER_BUDGET}); use grad, or a shorter expression")
    return None


class Truth:
    """f, its gradient and Hessian at 50 digits, as a `spec.Reference`-compatible callable."""

    def __init__(self, f: sympy.Expr, variables: tuple[str, ...], refuse_second: str | None = None) -> None:
        self.f, self.variables = f, variables
        self.refuse_second = refuse_second
        self._programs: dict[int, tuple[Program, list[sympy.Expr]]] = {}

    def exprs(self, order: int) -> list[sympy.Expr]:
        k = len(self.variables)
        qs = [self.f, *gradient(self.f, self.variables)]
        if order >= 2:
            rows = hessian(self.f, self.variables)
            qs += [rows[i][j] for i in range(k) for j in range(k)]
        return qs

    def scales(self, order: int) -> list[sympy.Expr]:
        """The scale of each quantity of ``exprs(order)``: f's by scale_of, the derivatives' by
        derivative_scale."""
        qs = self.exprs(order)
        syms = [SYMBOLS[v] for v in self.variables]
        k = len(syms)
        out = [scale_of(qs[0])] + [derivative_scale(self.f, (s,), q) for s, q in zip(syms, qs[1:1 + k])]
        if order >= 2:
            out += [derivative_scale(self.f, (syms[i], syms[j]), qs[1 + k + i * k + j])
                    for i in range(k) for j in range(k)]
        return out

    def program(self, order: int) -> tuple[Program, list[sympy.Expr]]:
        if order >= 2 and self.refuse_second:
            from backpropcli.errors import InputError

            raise InputError(self.refuse_second)
        if order not in self._programs:
            from backpropcli.errors import InputError

            qs = self.exprs(order)
            undefined = next((q for q in qs if q.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo)), None)
            if undefined is not None:
                which = "f" if undefined is qs[0] else "its derivative"
                raise InputError(f"{which} of {text(self.f)!r} is undefined everywhere "
                                 f"(sympy gives {text(undefined)}): nothing to check")
            try:
                self._programs[order] = (Program(qs + self.scales(order)), qs)
            except ValueError as exc:
                raise InputError(f"cannot evaluate {text(self.f)!r} at 50 digits: {exc}") from None
        return self._programs[order]

    def values(self, inputs: dict, params: dict, order: int) -> list[float]:
        """[f, grad..., hessian row-major..., then the same number of scales], rounded to float."""
        program, qs = self.program(order)
        point = {**{k: float(v) for k, v in params.items()}, **{k: float(v) for k, v in inputs.items()}}
        bits = BITS
        while True:
            with mpmath.workprec(bits):
                env = {k: mpmath.mpf(v) for k, v in point.items()}
                try:
                    out, loss = program.run(env)
                except _Undefined:
                    return self._limits(qs, point)
                except (_Overflow, OverflowError, MemoryError):
                    return [math.nan] * len(out_names(qs))
                if NEEDED + loss <= bits or bits >= MAX_BITS:
                    return [_float(v) for v in out]
                bits = min(MAX_BITS, bits * 4 if math.isinf(loss) else int(NEEDED + loss) + 16)

    def _limits(self, qs: list[sympy.Expr], point: dict) -> list[float]:
        """Each quantity at the point, by its symbolic limit where the closed form is undefined;
        the scale there is the size of the limit itself."""
        subs_params = {SYMBOLS[k]: sympy.Rational(v) for k, v in point.items() if k not in self.variables}
        value = _limit(qs[0].subs(subs_params), self.variables, point)
        if math.isnan(value):
            # f is not real here (log(-1)): no derivative either, whatever sympy's 1/x says
            return [math.nan] * (2 * len(qs))
        vals = [value] + [_limit(q.subs(subs_params), self.variables, point) for q in qs[1:]]
        return vals + [abs(v) for v in vals]

    def __call__(self, inputs: dict, params: dict, order: int = 1) -> Reference:
        vals = self.values(inputs, params, order)
        k = len(self.variables)
        n = len(vals) // 2
        q, s = vals[:n], vals[n:]
        grad = dict(zip(self.variables, q[1:1 + k]))
        grad_scale = dict(zip(self.variables, s[1:1 + k]))
        hess = hess_scale = None
        if order >= 2:
            hess = [q[1 + k + i * k:1 + k + (i + 1) * k] for i in range(k)]
            hess_scale = [s[1 + k + i * k:1 + k + (i + 1) * k] for i in range(k)]
        return Reference(value=q[0], value_scale=s[0], gradient=grad, gradient_scale=grad_scale,
                         hessian=hess, hessian_scale=hess_scale)


def out_names(qs: list) -> list:
    return qs + qs  # the quantities, then their scales


def _limit(q: sympy.Expr, variables: tuple[str, ...], point: dict) -> float:
    """The limit of q at the point, one variable after the other (x, then y); nan if none exists."""
    expr = q
    try:
        for v in variables:
            at = sympy.Rational(point[v])  # the float's exact binary value
            sym = SYMBOLS[v]
            direct = expr.subs(sym, at)
            if direct.is_finite and not direct.has(sympy.nan, sympy.zoo):
                expr = direct
                continue
            expr = sympy.limit(expr.rewrite(sympy.exp) if expr.has(sigmoid, softplus) else expr, sym, at)
        value = sympy.N(expr, DIGITS)
        return float(value) if value.is_real and value.is_finite else math.nan
    except (ValueError, TypeError, NotImplementedError, ZeroDivisionError):
        return math.nan


def _float(v) -> float:
    try:
        return float(v)
    except (OverflowError, TypeError):
        return math.nan
