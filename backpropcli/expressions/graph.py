"""The expression as a graph of primitive torch ops, one node per operation.

`lower(tree)` turns the tree into a list of `Step`s in evaluation order, named
v1...vn as the report names its intermediates; a sub-expression that occurs
twice is one node (the graph is a DAG, as autograd records it). Constant
sub-expressions (`2*pi`) are folded into floats held by the op. The same steps
drive the torch graph (`builder`) and the 50-digit walk of precision.py.

Primitives: torch ops only, so autograd differentiates every node and double
backward works. `sigmoid` is torch.sigmoid (its backward y(1 - y) loses
everything for large u: precision.py shows it); `softplus` is
torch.logaddexp(u, 0) = log(e^u + 1), which is stable for every u and whose
derivative is exactly sigmoid(u) - unlike F.softplus, which switches to u
above 20. The naive log(1 + exp(x)) is what the user types to see the report's
overflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backpropcli.expressions.parse import Bin, Call, Const, Expr, Neg, Num, Var, constant_value, to_text
from backpropcli.functions.graph import Graph, GraphBuilder
from backpropcli.present.fmt import general


@dataclass(frozen=True)
class Step:
    name: str  # v1, v2, ...
    expr: str  # the sub-expression, normalised text
    op: str  # add, sub, mul, div, pow, neg, sin, ...; with a constant: add_const, pow_const, ...
    parents: tuple[str, ...]  # node names (variables, parameters or earlier steps)
    const: float | None = None  # the folded constant operand, if any
    const_side: str | None = None  # "left" or "right": where the constant sits
    tree: Expr | None = None  # the sub-expression itself


_BIN_OP = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}


def lower(tree: Expr, prefix: str = "v") -> tuple[list[Step], str]:
    """The steps of ``tree`` in evaluation order and the name of the output node."""
    steps: list[Step] = []
    seen: dict[Expr, str] = {}

    def visit(t: Expr) -> str | float:
        c = constant_value(t)
        if c is not None:
            return c
        if isinstance(t, Var):
            return t.name
        if t in seen:
            return seen[t]
        parents: tuple[str, ...]
        const: float | None
        if isinstance(t, Neg):
            parents, op, const, side = (str(visit(t.arg)),), "neg", None, None
        elif isinstance(t, Call):
            parents, op, const, side = (str(visit(t.arg)),), t.fn, None, None
        else:
            assert isinstance(t, Bin), t  # a constant sub-tree returned above
            left, right = visit(t.left), visit(t.right)
            op = _BIN_OP[t.op]
            if isinstance(left, float):
                parents, op, const, side = (str(right),), op + "_const", left, "left"
            elif isinstance(right, float):
                parents, op, const, side = (str(left),), op + "_const", right, "right"
            else:
                parents, const, side = (str(left), str(right)), None, None
        name = f"{prefix}{len(steps) + 1}"
        steps.append(Step(name, to_text(t), op, parents, const, side, t))
        seen[t] = name
        return name

    out = visit(tree)
    if not isinstance(out, str) or not steps:
        # a constant or a bare variable: one node, so the graph still has an output op
        t = tree
        const = out if isinstance(out, float) else None
        parents = () if const is not None else (str(out),)
        steps.append(Step(f"{prefix}1", to_text(t), "const" if const is not None else "identity",
                          parents, const, None, t))
        out = steps[-1].name
    return steps, out


def torch_fn(step: Step):
    """The torch function of a step, on its parents' tensors."""
    import torch

    c, side = step.const, step.const_side
    base = step.op.removesuffix("_const")
    if step.op == "const":
        return lambda *_: torch.tensor(c, dtype=torch.float64)
    if step.op == "identity":
        return lambda u: u * 1.0
    if step.op == "neg":
        return torch.neg
    if base in ("add", "sub", "mul", "div", "pow"):
        ops: dict[str, Callable[..., Any]] = {"add": torch.add, "sub": torch.sub, "mul": torch.mul,
                                              "div": torch.div, "pow": torch.pow}
        f = ops[base]
        if c is None:
            return f
        if side == "left":
            return lambda u: f(torch.as_tensor(c, dtype=u.dtype), u)
        if base == "pow" and float(c).is_integer():
            n = int(c)
            return lambda u: torch.pow(u, n)
        return lambda u: f(u, c)
    if step.op == "softplus":
        return lambda u: torch.logaddexp(u, torch.zeros_like(u))
    return {"abs": torch.abs, "sigmoid": torch.sigmoid, "sign": torch.sign}.get(step.op) or getattr(torch, step.op)


_WARM = False


def warm() -> None:
    """Call every unary op once on a small tensor, single-threaded, before any large call:
    MKL VML picks its kernel lazily, and a first call on several threads at once can leave
    one thread on a low-accuracy kernel (pytorch/pytorch#188792, see DESIGN.md)."""
    global _WARM
    if _WARM:
        return
    import torch

    t = torch.linspace(0.1, 0.9, 8, dtype=torch.float64)
    for name in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "expm1",
                 "log", "log1p", "sqrt", "abs", "sigmoid"):
        getattr(torch, name)(t)
        getattr(torch, name)(t.float())
    torch.logaddexp(t, torch.zeros_like(t))
    torch.pow(t, t)
    _WARM = True


def _c(c: float) -> str:
    return f"{general(c)}"


# the local derivative of each unary op in symbols of its parent u, as the trace shows it
_UNARY_RULES = {
    "neg": "-1", "identity": "1", "sin": "cos({u})", "cos": "-sin({u})", "tan": "1 + tan({u})²",
    "asin": "1/sqrt(1 - {u}²)", "acos": "-1/sqrt(1 - {u}²)", "atan": "1/(1 + {u}²)", "sinh": "cosh({u})",
    "cosh": "sinh({u})", "tanh": "1 - tanh({u})²", "exp": "exp({u})", "expm1": "exp({u})", "log": "1/{u}",
    "log1p": "1/(1 + {u})", "sqrt": "1/(2·sqrt({u}))", "abs": "sign({u})", "sign": "0",
    "sigmoid": "sigmoid({u})·(1 - sigmoid({u}))", "softplus": "sigmoid({u})", "const": "0 (a constant)",
}


def _power_rule(n: float, u: str) -> str:
    """d u**n / du in symbols: 2·x, 3·x^2, -1·x^(-2)."""
    m = n - 1
    if m == 0:
        return "1"
    if m == 1:
        return f"{_c(n)}·{u}"
    return f"{_c(n)}·{u}^{_c(m) if m > 0 and float(m).is_integer() else f'({_c(m)})'}"


def rule(step: Step):
    """The local-derivative rule of a step, rule(parents, index, size) -> text (see functions.graph.Op)."""
    c, side, base = step.const, step.const_side, step.op.removesuffix("_const")
    if step.op in _UNARY_RULES:
        text = _UNARY_RULES[step.op]
        return lambda p, i, n: text.format(u=p[i])
    if c is None:  # two parents p[0] op p[1]
        def binary(p, i, n):
            u, v = p
            return {"add": "1", "sub": "1" if i == 0 else "-1", "mul": f"{p[1 - i]} (mul swaps)",
                    "div": f"1/{v}" if i == 0 else f"-{u}/{v}²",
                    "pow": f"{v}·{u}^({v} - 1)" if i == 0 else f"{u}^{v}·log({u})"}[base]
        return binary

    def with_constant(p, i, n):
        u = p[0]
        if side == "left":  # c op u
            return {"add": "1", "sub": "-1", "mul": _c(c), "div": f"-{_c(c)}/{u}²",
                    "pow": f"{_c(c)}^{u}·log({_c(c)})"}[base]
        return {"add": "1", "sub": "1", "mul": _c(c), "div": f"1/{_c(c)}",
                "pow": _power_rule(c, u)}[base]
    return with_constant


def op(step: Step):
    """The step as a functions.graph.Op: its torch forward beside its rule."""
    from backpropcli.functions.graph import Op

    fn = torch_fn(step)
    if step.op == "const":
        # a constant node hangs off any input for its shape; 0·(u - u) keeps it in the graph with slope 0
        def forward(u):
            return fn().to(u.dtype) + 0 * (u - u.detach())
        return Op("const", forward, rule(step))
    return Op(step.op, fn, rule(step))


def builder(tree: Expr, prefix: str = "v") -> GraphBuilder:
    steps, out = lower(tree, prefix)
    ops = [op(s) for s in steps]

    def build(g: Graph) -> str:
        warm()
        for step, step_op in zip(steps, ops):
            # a constant node hangs off the first input, for its shape
            parents = step.parents if step.op != "const" else (next(iter(g.nodes)),)
            g.op(step.name, step.expr, step_op, *parents)
        return out

    return build


def from_sympy(e) -> Expr:
    """Our tree from a sympy expression (for the graph of the symbolic f'): sums and
    products become chains of binary nodes, x**-1 a division, rationals numbers."""
    import sympy

    from backpropcli.expressions import symbolic

    if e.is_Symbol:
        return Var(e.name)
    if e == sympy.pi:
        return Const("pi")
    if e == sympy.E:
        return Const("e")
    if e.is_Integer:
        return Num(int(e)) if e >= 0 else Neg(Num(-int(e)))
    if e.is_Number:
        v = float(e)
        return Num(v) if v >= 0 else Neg(Num(-v))
    if e.is_Add:
        terms = list(e.as_ordered_terms())
        out = from_sympy(terms[0])
        for t in terms[1:]:
            if t.could_extract_minus_sign():
                out = Bin("-", out, from_sympy(-t))
            else:
                out = Bin("+", out, from_sympy(t))
        return out
    if e.is_Mul:
        if e.could_extract_minus_sign() and e.args[0] == -1:
            return Neg(from_sympy(-e))
        num, den = e.as_numer_denom()
        if den != 1:
            return Bin("/", from_sympy(num), from_sympy(den))
        factors = list(e.args)
        out = from_sympy(factors[0])
        for f in factors[1:]:
            out = Bin("*", out, from_sympy(f))
        return out
    if e.is_Pow:
        if e.exp == -1:
            return Bin("/", Num(1), from_sympy(e.base))
        if e.exp == sympy.Rational(1, 2):
            return Call("sqrt", from_sympy(e.base))
        if e.base == sympy.E:
            return Call("exp", from_sympy(e.exp))
        return Bin("**", from_sympy(e.base), from_sympy(e.exp))
    if e.func == sympy.exp:
        return Call("exp", from_sympy(e.args[0]))
    names = {sympy.Abs: "abs", sympy.sign: "sign", symbolic.s_expm1: "expm1", symbolic.s_log1p: "log1p",
             symbolic.sigmoid: "sigmoid", symbolic.softplus: "softplus"}
    name = names.get(e.func, getattr(e.func, "__name__", ""))
    if name in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "log") or name in names.values():
        return Call(name, from_sympy(e.args[0]))
    raise ValueError(f"no graph for {e.func}")
