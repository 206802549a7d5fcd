"""Digits lost, and the node where the loss is born.

For every node of the expression's torch graph we know two numbers per point:
what float64 autograd computed (its forward value and its adjoint, the
derivative of the output with respect to it) and the same two at high
precision, by walking the same steps in mpmath with the same float inputs and
the same float constants. A node's own error is the jump from the errors of the
numbers it was computed from to the error of its result, in decimal digits:
for the forward value, its parents' values; for the adjoint, its children's
adjoints and the values their local derivatives use. The node whose own error
jumps most is the culprit. For (cos(x) - 1)/x**2 at x = 1e-5 it is the
subtraction cos(x) - 1: two numbers near 1 whose difference keeps only the
digits below 1e-10, about ten of sixteen lost there and carried to the end.

A node's adjoint is also born in its own local derivative: torch's backward of
expm1 is grad·(expm1(u) + 1), which is 0 at u = -40 though e^-40 = 4.2e-18 is not,
so a leaf's lost digits that none of its children's values or adjoints lost are
charged to the child whose local derivative produced them.

Digits are counted against float64's unit roundoff u = 2^-53: an error of
u·10^k relative is k digits lost; everything (15.95 digits) is lost when the
graph gives nan or inf where the truth is finite. The digits lost by the graph's
derivative as a whole are the check's (core/tolerance.digits_lost: the verdict's
yardstick); the size of the terms the chain rule adds, which the graph cancels,
is what the reason line shows, with a rewrite where one is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mpmath

from backpropcli.expressions.evaluate import HUGE_BITS, PERIODIC_BITS
from backpropcli.expressions.graph import Step
from backpropcli.present.fmt import fixed, general, num

U = 2.0**-53
ALL = round(53 * math.log10(2), 2)  # 15.95: every digit of a float64


@dataclass(frozen=True)
class WorstNode:
    name: str
    expression: str
    digits_lost: float


@dataclass(frozen=True)
class PointPrecision:
    inputs: dict[str, float]
    digits_lost: float | None  # of the graph's derivative (worst entry) against the truth; None: no truth here
    worst_node: WorstNode | None
    reason: str  # one line: why the graph is wrong here ("" when it is not)
    shared_overflow: bool = False  # f and its derivative overflow float64, and so do their true values
    own_derivative: bool = False  # the worst node lost its digits in its own local derivative


def digits(rel: float) -> float:
    """Decimal digits lost for a relative error ``rel`` (0 up to ALL)."""
    if math.isnan(rel) or rel == math.inf:
        return ALL
    if rel <= U:
        return 0.0
    return min(ALL, math.log10(rel / U))


def lost(value: float, truth: float) -> float:
    """Digits lost by ``value`` against ``truth``, relative (a node's own value or adjoint)."""
    if math.isnan(truth):
        return ALL  # undefined at the point (0/0): no float can be right
    if not math.isfinite(value):
        return 0.0 if value == truth else ALL
    if not math.isfinite(truth):
        return ALL
    err = abs(value - truth)
    if err == 0:
        return 0.0
    return digits(err / abs(truth)) if truth else ALL


# ---- the high-precision walk ------------------------------------------------------------------


def _mp_op(step: Step, args: list):
    """Forward value of one step in mpmath; None when undefined (0/0, log of 0 or a negative)."""
    c = None if step.const is None else mpmath.mpf(step.const)
    base = step.op.removesuffix("_const")
    if step.op == "const":
        return c
    if step.op == "identity":
        return args[0]
    if c is not None:
        args = [c, args[0]] if step.const_side == "left" else [args[0], c]
    try:
        if base == "add":
            return args[0] + args[1]
        if base == "sub":
            return args[0] - args[1]
        if base == "mul":
            return args[0] * args[1]
        if base == "div":
            return args[0] / args[1] if args[1] else None
        if base == "pow":
            p, q = args
            if (not p and q < 0) or (q and mpmath.mag(q) > HUGE_BITS):
                return None
            r = mpmath.power(p, q)
            return None if isinstance(r, mpmath.mpc) else r
        u = args[0]
        if step.op in _EXPLIKE and u and mpmath.mag(u) > HUGE_BITS:
            return None  # e^(e^1000): no affordable mpf (see evaluate.HUGE_BITS)
        if step.op in ("sin", "cos", "tan") and u and mpmath.mag(u) > PERIODIC_BITS:
            return None  # sin of a number of 10^5 bits: reducing it needs as many bits of pi
        out = {"neg": lambda: -u, "abs": lambda: abs(u), "sign": lambda: mpmath.mpf(mpmath.sign(u)),
               "sigmoid": lambda: 1 / (1 + mpmath.exp(-u)),
               "softplus": lambda: u + mpmath.log1p(mpmath.exp(-u)) if u > 0 else mpmath.log1p(mpmath.exp(u)),
               "log": lambda: mpmath.log(u) if u > 0 else None,
               "log1p": lambda: mpmath.log1p(u) if u > -1 else None,
               "sqrt": lambda: mpmath.sqrt(u) if u >= 0 else None,
               "asin": lambda: mpmath.asin(u) if abs(u) <= 1 else None,
               "acos": lambda: mpmath.acos(u) if abs(u) <= 1 else None,
               }.get(step.op)
        r = out() if out else getattr(mpmath, step.op)(u)
        return None if isinstance(r, mpmath.mpc) else r
    except (ZeroDivisionError, ValueError):
        return None


def _mp_local(step: Step, args: list, out):
    """d step / d parent, for each parent (None where undefined)."""
    c = None if step.const is None else mpmath.mpf(step.const)
    base = step.op.removesuffix("_const")
    if step.op in ("const",):
        return []
    if step.op == "identity":
        return [mpmath.mpf(1)]
    try:
        if base in ("add", "sub", "mul", "div", "pow"):
            if c is not None:
                p, q = (c, args[0]) if step.const_side == "left" else (args[0], c)
            else:
                p, q = args
            if c is None:
                return [_binary_local(base, p, q, out, 0), _binary_local(base, p, q, out, 1)]
            return [_binary_local(base, p, q, out, 1 if step.const_side == "left" else 0)]
        u = args[0]
        if step.op in ("sin", "cos", "tan") and u and mpmath.mag(u) > PERIODIC_BITS:
            return [None]
        d = _LOCAL[step.op](u, out)
        return [d]
    except (ZeroDivisionError, ValueError, TypeError):
        return [None] * (1 if step.const is not None or step.op not in _BINARY else 2)


_BINARY = ("add", "sub", "mul", "div", "pow")


def _binary_local(op: str, p, q, out, i: int):
    """d (p op q) / d p (i = 0) or / d q (i = 1); None where undefined."""
    if op == "add":
        return 1
    if op == "sub":
        return 1 if i == 0 else -1
    if op == "mul":
        return q if i == 0 else p
    if op == "div":
        if not q:
            return None
        return 1 / q if i == 0 else -p / q**2
    if i == 0:  # d p**q / dp
        return q * mpmath.power(p, q - 1) if (p or q >= 1) else None
    return out * mpmath.log(p) if p > 0 else (0 if not p and q > 0 else None)
# d op(u) / du from u and the op's value; None where undefined
_LOCAL = {
    "neg": lambda u, y: -1, "abs": lambda u, y: mpmath.sign(u), "sign": lambda u, y: 0,
    "sin": lambda u, y: mpmath.cos(u), "cos": lambda u, y: -mpmath.sin(u), "tan": lambda u, y: 1 + y**2,
    "asin": lambda u, y: 1 / mpmath.sqrt(1 - u**2) if abs(u) < 1 else None,
    "acos": lambda u, y: -1 / mpmath.sqrt(1 - u**2) if abs(u) < 1 else None,
    "atan": lambda u, y: 1 / (1 + u**2), "sinh": lambda u, y: mpmath.cosh(u), "cosh": lambda u, y: mpmath.sinh(u),
    "tanh": lambda u, y: 1 - y**2, "exp": lambda u, y: y, "expm1": lambda u, y: y + 1,
    "log": lambda u, y: 1 / u if u else None, "log1p": lambda u, y: 1 / (1 + u) if u != -1 else None,
    "sqrt": lambda u, y: 1 / (2 * y) if y else None, "sigmoid": lambda u, y: y * (1 - y),
    "softplus": lambda u, y: 1 / (1 + mpmath.exp(-u)),
}
_EXPLIKE = ("exp", "expm1", "sinh", "cosh", "sigmoid", "softplus")


def _bits(inputs: dict[str, float]) -> int:
    """Working precision for the walk: the cancellations of a float graph near small inputs
    are at most a few times the inputs' binary exponent."""
    small = min((abs(v) for v in inputs.values() if v and math.isfinite(v)), default=1.0)
    return 256 + 4 * max(0, -math.frexp(small)[1])


def walk(steps: list[Step], out: str, inputs: dict[str, float]) -> tuple[dict, dict, set]:
    """High-precision forward values and adjoints (d out / d node) of every node; None = undefined."""
    with mpmath.workprec(_bits(inputs)):
        val: dict = {k: mpmath.mpf(v) for k, v in inputs.items()}
        for s in steps:
            args = [val[p] for p in s.parents]
            val[s.name] = None if any(a is None for a in args) else _mp_op(s, args)
        adj: dict = {k: mpmath.mpf(0) for k in val}
        adj[out] = mpmath.mpf(1)
        for s in reversed(steps):
            a = adj[s.name]
            args = [val[p] for p in s.parents]
            if a is None or val[s.name] is None or any(x is None for x in args):
                for p in s.parents:
                    adj[p] = None
                continue
            for p, d in zip(s.parents, _mp_local(s, args, val[s.name])):
                if adj[p] is not None:
                    adj[p] = None if d is None else adj[p] + a * d
        floats = {k: _f(v) for k, v in val.items()}
        # finite values beyond the float range (they round to inf); tested only where that happened
        big = {k for k, f in floats.items() if math.isinf(f) and mpmath.isfinite(val[k])}
        return floats, {k: _f(v) for k, v in adj.items()}, big


_MAX = 1.7976931348623157e308


def _f(v) -> float:
    if v is None:
        return math.nan
    return float(v)  # beyond the float range: +-inf


# ---- the torch side ---------------------------------------------------------------------------


def torch_nodes(builder, variables, points: dict[str, list[float]], params: dict[str, float], order: int = 1):
    """Float64 values and adjoints of every node, the gradient and (order 2) the Hessian."""
    import torch

    from backpropcli.functions.graph import build

    n = len(next(iter(points.values())))
    leaves = [torch.tensor(points[v], dtype=torch.float64, requires_grad=True) for v in variables]
    ps = {p: torch.full((n,), float(v), dtype=torch.float64) for p, v in params.items()}
    g = build(builder, {**dict(zip(variables, leaves)), **ps})
    ops: list[Any] = [node for node in g.nodes.values() if node.op.name != "input"]
    tracked = [o for o in ops if o.tensor.requires_grad]
    outs: Any
    if g.result.requires_grad:
        outs = torch.autograd.grad(g.result.sum(), leaves + [o.tensor for o in tracked],
                                   create_graph=order >= 2, allow_unused=True)
    else:  # a constant: every derivative is 0
        outs = [None] * (len(leaves) + len(tracked))
    grads = outs[:len(leaves)]
    node_adj = dict(zip((o.name for o in tracked), outs[len(leaves):]))
    hess = None
    if order >= 2:
        rows: list[Any] = [list(torch.autograd.grad(gi.sum(), leaves, retain_graph=True, allow_unused=True))
                           if gi is not None and gi.requires_grad else [None] * len(leaves) for gi in grads]
        hess = [[_floats(h, n) for h in row] for row in rows]
    values = {o.name: o.tensor.detach().expand(n).tolist() for o in ops}
    adjoints = {o.name: _floats(node_adj.get(o.name), n) for o in ops}
    return values, adjoints, [_floats(gr, n) for gr in grads], hess


def _floats(t, n: int) -> list[float]:
    """A gradient as n floats: None (unused) and autograd's storage-less zero tensors are zeros."""
    import torch

    if t is None or torch._is_zerotensor(t):
        return [0.0] * n
    return t.detach().expand(n).tolist()


# ---- the analysis -----------------------------------------------------------------------------


def analyse(steps: list[Step], out: str, builder, variables: tuple[str, ...], truth,
            points: dict[str, list[float]], params: dict[str, float], order: int = 1,
            refs: list | None = None, totals: list | None = None) -> list[PointPrecision]:
    """Per point: the digits the graph's derivative lost against ``truth`` and the node where the loss is
    born. ``refs``: the References at the points, if the caller has them; ``totals``: the digits lost
    per point as the check measured them (the verdict's yardstick; None where a point has no truth),
    if the caller has them. A point without a truth is not analysed."""
    values, adjoints, grads, hess = torch_nodes(builder, variables, points, params, order)
    n = len(next(iter(points.values())))
    by_name = {s.name: s for s in steps}
    children: dict[str, list[Step]] = {}
    for s in steps:
        for p in s.parents:
            children.setdefault(p, []).append(s)
    result = []
    for i in range(n):
        inputs = {v: float(points[v][i]) for v in variables}
        ref = refs[i] if refs is not None else truth(inputs, params, order)
        status = getattr(ref, "status", "ok")
        if status != "ok":
            # no truth, no digits; where the truth is only uncertain, an overflow of the graph is still named
            reason = ""
            if status == "truth-uncertain":
                _, _, big = walk(steps, out, {**inputs, **{k: float(v) for k, v in params.items()}})
                over = next((s for s in steps if s.name in big and not math.isfinite(values[s.name][i])), None)
                if over is not None:
                    reason = (f"overflow at {over.name} = {over.expr}: its true value is beyond the float64 "
                              "range (1.8e308)")
            result.append(PointPrecision(inputs, None, None, reason))
            continue
        if order >= 2:
            pairs = [(hess[r][c][i], ref.hessian[r][c], ref.hessian_scale[r][c])
                     for r in range(len(variables)) for c in range(len(variables))]
        else:
            pairs = [(grads[j][i], ref.gradient[v], ref.gradient_scale[v]) for j, v in enumerate(variables)]
        total = totals[i] if totals is not None and totals[i] is not None else max(lost(g, t) for g, t, _ in pairs)
        point_values = {k: values[k][i] for k in values}
        point_adjoints = {k: adjoints[k][i] for k in adjoints}
        leaves = {v: (grads[j][i] if order < 2 else None) for j, v in enumerate(variables)}
        walked = walk(steps, out, {**inputs, **{k: float(v) for k, v in params.items()}})
        result.append(_attribute(steps, out, by_name, children, point_values, point_adjoints, leaves, walked,
                                 inputs, total, pairs, order))
    return result


def _attribute(steps, out, by_name, children, values, adjoints, leaves, walked, inputs, total, pairs, order):
    """The worst node at one point and the reason line."""
    tv, ta, big = walked
    # a node whose true value is beyond the float range loses everything there, by overflow
    # ... unless the truth of every derivative overflows too: then the graph's inf is right (as
    # tolerance.within treats a shared overflow) and no node lost anything by it
    shared = all(math.isinf(t) and g == t for g, t, _ in pairs)
    fwd = {s.name: ALL if s.name in big and not shared else lost(values[s.name], tv[s.name]) for s in steps}
    bwd = {s.name: lost(adjoints[s.name], ta[s.name]) for s in steps}
    scores, own = {}, set()
    for s in steps:
        inherited = max((fwd[p] for p in s.parents if p in by_name), default=0.0)
        kids = children.get(s.name, [])
        inherited_b = max([bwd[c.name] for c in kids] + [fwd[q] for c in kids for q in (c.name, *c.parents)
                                                         if q in by_name and q != s.name], default=0.0)
        jump_b = bwd[s.name] - inherited_b if s.name != out else 0.0
        scores[s.name] = max(fwd[s.name] - inherited, jump_b)
    # a leaf's adjoint (the gradient itself) born where no child's value or adjoint lost it: in the
    # only child's own local derivative (expm1 at -40), or as the paths from the leaf add up
    paths = None
    for leaf, grad in leaves.items():
        kids = children.get(leaf, [])
        if grad is None or not kids or leaf not in ta:
            continue
        jump = lost(grad, ta[leaf]) - max([bwd[c.name] for c in kids] + [fwd[c.name] for c in kids]
                                          + [fwd[q] for c in kids for q in c.parents if q in by_name])
        if len(kids) == 1 and jump > scores[kids[0].name]:
            scores[kids[0].name] = jump
            own.add(kids[0].name)
        elif len(kids) > 1 and jump >= 1 and jump > max(scores.values()) and (paths is None or jump > paths[2]):
            paths = (leaf, len(kids), jump)
    worst = max(steps, key=lambda s: scores[s.name])  # the first of equals: the earliest node
    nonfinite = next((s.name for s in steps if not math.isfinite(values[s.name])
                      and (s.name in big or not math.isinf(tv[s.name]))), None)
    wn = WorstNode(worst.name, worst.expr, round(max(0.0, scores[worst.name]), 1))
    if paths is not None:  # the loss is born at the leaf itself, where the chain rule adds its paths
        wn = WorstNode(paths[0], f"the sum of the {paths[1]} paths from {paths[0]}", round(paths[2], 1))
    reason = classify(total, wn, nonfinite and by_name[nonfinite], tv, big, pairs,
                      None if paths else worst, worst.name in own and paths is None)
    if shared:
        wn = WorstNode(worst.name, worst.expr, 0.0)
        reason = f"f and {'f″' if order >= 2 else 'f′'} overflow float64 here (their true values too)"
    return PointPrecision(inputs, round(total, 2), wn, reason, bool(shared), worst.name in own and paths is None)


def classify(total: float, worst: WorstNode, nonfinite: Step | None, true_values: dict, big: set,
             pairs, step: Step | None = None, own: bool = False) -> str:
    """One line: why the graph's derivative is wrong here (empty when it lost under 2 digits)."""
    if total < 2:
        return ""
    truth_finite = all(math.isfinite(t) for _, t, _ in pairs)
    if nonfinite is not None and nonfinite.name in big:
        return (f"overflow at {nonfinite.name} = {nonfinite.expr}: its true value is beyond the float64 "
                "range (1.8e308)" + (" though f′ is not" if truth_finite else ""))
    if nonfinite is not None and truth_finite:
        if math.isnan(true_values[nonfinite.name]):
            return (f"nan at a removable singularity: {nonfinite.name} = {nonfinite.expr} is undefined here "
                    "(0/0 or the like) though f has a finite limit; rewrite it without the 0/0 (a series "
                    "near the point, or a where() with the limit)")
        return f"overflow at {nonfinite.name} = {nonfinite.expr} (the graph gives inf or nan, the truth is finite)"
    if any(not math.isfinite(g) for g, _, _ in pairs) and truth_finite:
        return f"overflow: the graph's derivative is not finite; first loss at {worst.name} = {worst.expression}"
    if worst.digits_lost < 1:
        return ""  # no node to blame: naming one that lost nothing would contradict itself
    where = f"at {worst.name} = {worst.expression}"
    if worst.expression.startswith("the sum of the"):
        where = f"in {worst.expression}, as the chain rule adds them"
    if own:
        line = (f"cancellation in the local derivative of {worst.name} = {worst.expression} "
                f"({general(worst.digits_lost)} digits lost there)")
    else:
        line = f"cancellation {where} ({general(worst.digits_lost)} digits lost there)"
    terms = max(((abs(sc), abs(t)) for _, t, sc in pairs if math.isfinite(sc) and math.isfinite(t)),
                key=lambda st: st[0] / st[1] if st[1] else math.inf, default=None)
    if terms is not None and terms[0] > 1e3 * terms[1]:
        line += f"; the chain rule's terms are of size {num(terms[0], 2)} and cancel to {num(terms[1], 2)}"
    hint = rewrite_hint(step, own) if step is not None else ""
    return line + (f"; {hint}" if hint else "")


def rewrite_hint(step: Step, own: bool) -> str:
    """A rewrite that avoids the loss at this node, where one is known."""
    text = step.expr.replace(" ", "")
    if own and step.op == "sigmoid":
        return "torch's backward of sigmoid is s·(1 - s): write its derivative as sigmoid(u)*sigmoid(-u)"
    if own and step.op == "expm1":
        return "torch's backward of expm1 is grad·(expm1(u) + 1): for u << 0 that is 0, though e^u is not"
    if own and step.op == "tanh":
        return "torch's backward of tanh is 1 - tanh(u)^2, which cancels for large |u|"
    if step.op in ("sub", "sub_const", "add_const", "add"):
        if "cos(" in text and ("-1" in text or "1-" in text):
            return "rewrite cos(u) - 1 as -2*sin(u/2)**2"
        if "exp(" in text and ("-1" in text or "1-" in text):
            return "rewrite exp(u) - 1 as expm1(u)"
        if "sigmoid(" in text and "1-" in text:
            return "rewrite 1 - sigmoid(u) as sigmoid(-u)"
    if step.op == "log" and text.startswith("log(1+"):
        return "rewrite log(1 + u) as log1p(u)" + (" (softplus(u) for log(1 + exp(u)))" if "exp(" in text else "")
    return ""


# ---- ranges -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    variable: str
    low: float
    high: float
    points: int  # how many points in it lose more than the tolerance
    worst: PointPrecision  # the point that lost most
    reason: str


def region(results: list[PointPrecision], tolerance: float = 6.0, variable: str = "x") -> Region | None:
    """The span of ``variable`` where the graph lost more than ``tolerance`` digits, or None."""
    bad = [r for r in results if r.digits_lost is not None and r.digits_lost > tolerance]
    if not bad:
        return None
    xs = [r.inputs[variable] for r in bad]
    worst = max(bad, key=lambda r: r.digits_lost or 0.0)
    return Region(variable, min(xs), max(xs), len(bad), worst, worst.reason)


def summary(results: list[PointPrecision], tolerance: float = 6.0, variable: str = "x") -> str:
    """One line for a range, e.g. 'loses > 6 digits for x in [1e-08, 0.0031] (37 points): cancellation at ...'."""
    r = region(results, tolerance, variable)
    if r is None:
        most = max((p.digits_lost for p in results if p.digits_lost is not None), default=0.0)
        return f"loses at most {fixed(most)} digits on this range"
    where = (f"at {variable} = {num(r.low, 3)}" if r.low == r.high
             else f"for {variable} in [{num(r.low, 3)}, {num(r.high, 3)}]")
    return (f"loses > {num(tolerance, 3)} digits {where} ({r.points} point{'s' if r.points > 1 else ''}): "
            f"{r.reason or 'the derivative is far from the truth'}")
