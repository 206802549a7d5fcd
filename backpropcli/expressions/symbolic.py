"""The symbolic side: a sympy expression built from our tree (never from text) and its derivatives.

sympy is one of two truths (truth.py): program.py evaluates these derivatives at 50 digits,
scales.py measures the terms that cancel in them. Every sympy step that can take long runs
under a deadline there (io/deadline.py); this module only builds expressions.
"""

from __future__ import annotations

import sympy
from sympy.codegen.cfunctions import expm1 as s_expm1
from sympy.codegen.cfunctions import log1p as s_log1p

from backpropcli.expressions.parse import Call, Const, Expr, Neg, Num, Var


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


def refuse_undefined(f: sympy.Expr, name: str) -> None:
    """InputError when f itself is undefined everywhere: x/(x - x) is zoo*x, log(0) is zoo; nothing of
    it can be checked. Its derivatives are not refused here: sympy writes the derivative of 0**x
    as 0**x*log(0), nan, though it is 0 for x > 0; where a symbolic derivative is undefined the
    numerical truth decides (truth.py)."""
    from backpropcli.errors import InputError

    if f.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        raise InputError(f"{name!r} is undefined everywhere (sympy gives {text(f)}): nothing to check")


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


SECOND_ORDER_BUDGET = 100_000  # (operations in f') x (nodes in f): about the size of f''


def second_order_refusal(f: sympy.Expr, variables: tuple[str, ...], nodes: int) -> str | None:
    """Why f'' is not computed (too large to build in well under a second), or None."""
    size = sum(sympy.count_ops(g) for g in gradient(f, variables)) * max(1, nodes)
    if size > SECOND_ORDER_BUDGET:
        return (f"second derivatives of this expression are too large (about {size} operations, "
                f"limit {SECOND_ORDER_BUDGET}); use grad, or a shorter expression")
    return None
