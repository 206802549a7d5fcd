"""Derivatives of order 1 (gradient) or 2 (Hessian) compared four ways, at many points at once.

    analytic           closed form in mpmath at 50 digits (the ground truth)
    custom             the custom autograd.Function (backward, or backward of backward);
                       absent when the function has none (a typed expression)
    autograd           autograd through the report's decomposed graph
    finite_difference  central differences of the value (order 1) or of the gradient (order 2)
                       of the custom Function, or of the graph where there is none

The verdict judges the custom column, or autograd through the graph where there
is no custom Function, by the rule of core/tolerance.py (core/judge.py applies it). A point
whose reference has no truth (f not real, undefined or not differentiable there, or two truths
that disagree) is not judged: it is counted apart, and a check with no judged point is not ok
(finding nothing-checked). Points are evaluated as one batch: every function is elementwise in
its points, so the gradient of the sum is the gradient at each point.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from backpropcli.core import finite_diff, judge, tolerance, verdicts
from backpropcli.core import gradcheck as torch_checks
from backpropcli.errors import InputError
from backpropcli.functions import FunctionSpec
from backpropcli.functions.graph import build

METHODS = ("custom", "autograd", "finite_difference")
GRADCHECK_POINTS = 16  # gradcheck builds a dense Jacobian: a sample of points is enough
GRADCHECK_MAX_ABS = 1e6  # beyond this its fixed step 1e-6 is close to the spacing of floats


class Order(IntEnum):
    """Which derivative a check compares: 1, the gradient; 2, the Hessian."""

    GRADIENT = 1
    HESSIAN = 2

    @property
    def command(self) -> str:
        return "grad" if self is Order.GRADIENT else "hessian"

    @property
    def gradcheck_name(self) -> str:
        return "gradcheck" if self is Order.GRADIENT else "gradgradcheck"


@dataclass(kw_only=True)
class Comparison:
    """One derivative at one point, by every method, with errors against the analytic one."""

    analytic: float
    custom: float | None = None  # None: the function has no custom Function
    autograd: float
    finite_difference: float
    ok: bool | None  # None: not judged (the point has no truth)
    abs_error: dict[str, float] = field(default_factory=dict)
    rel_error: dict[str, float] = field(default_factory=dict)
    derivative_graph: float | None = None  # the report's graph of f' differentiated (Figure 7)
    scale: float | None = None  # size of the cancelling terms: explains digits lost, never excuses
    conditioning: float | None = None  # C of the verdict's rule, where it was needed (see tolerance.py)
    digits_lost: float | None = None  # by the judged column, in the verdict's yardstick

    def methods(self) -> dict[str, float]:
        """Every column that was computed, in display order."""
        values = {m: getattr(self, m) for m in METHODS if getattr(self, m) is not None}
        if self.derivative_graph is not None:
            values["derivative_graph"] = self.derivative_graph
        return values


@dataclass(kw_only=True)
class Point:
    """What every point has; ``extra`` holds optional fields a caller adds (e.g. digits_lost),
    written into the point's JSON as they are."""

    inputs: dict[str, float]
    value: float  # the custom Function's value (the graph's where there is none)
    value_analytic: float
    value_graph: float  # the report's graph: nan or inf where it breaks
    ok: bool | None  # None: not judged, ``status`` says why
    extra: dict[str, Any] = field(default_factory=dict)
    graph_ok: bool | None = True  # the report's graph (its value and autograd through it) within the tolerance
    graph_digits_lost: float | None = 0.0  # the most decimal digits it lost, of the dtype's ~16 (float64) or ~7
    shared_overflow: bool = False  # f and its derivative overflow the dtype, and so do their true values
    reference: Any = field(default=None, repr=False, compare=False)  # the functions.Reference judged against
    status: str = "checked"  # or not-real, undefined, not-differentiable, truth-uncertain (judge.STATUSES)

    @property
    def checked(self) -> bool:
        return self.status == "checked"


@dataclass(kw_only=True)
class GradientPoint(Point):
    gradients: dict[str, Comparison]  # by variable

    def entries(self, variables) -> Iterator[tuple[str, Comparison]]:
        yield from self.gradients.items()


@dataclass(kw_only=True)
class HessianPoint(Point):
    hessian: list[list[Comparison]]  # [i][j]: d2f / d(variable i) d(variable j)

    def entries(self, variables) -> Iterator[tuple[str, Comparison]]:
        for i, row in enumerate(self.hessian):
            for j, comp in enumerate(row):
                yield f"{variables[i]}{variables[j]}", comp


@dataclass
class DerivativeCheck:
    order: Order
    function: str
    variables: list[str]
    params: dict[str, float]
    dtype: str
    rtol: float
    points: list[Any]  # GradientPoint or HessianPoint, by the order
    gradcheck: bool | None  # gradcheck (order 1) / gradgradcheck (order 2); None when not run: no custom
    # Function (autograd is judged against the 50-digit truth instead), or no point was eligible
    gradcheck_points: int
    ok: bool
    has_custom: bool = True  # False: no custom Function; the verdict judges autograd through the graph
    extra: dict[str, Any] = field(default_factory=dict)  # optional check-level JSON fields (e.g. expression)

    @property
    def command(self) -> str:
        return self.order.command

    @property
    def judged(self) -> str:
        """The column the verdict is about."""
        return "custom" if self.has_custom else "autograd"

    @property
    def graph_failures(self) -> list[Point]:
        """Points where the report's graph, or autograd through it, is wrong beyond the tolerance:
        nan/inf where the truth is finite, and finite but wrong (sinc's f' at x = 1e-8 comes out 0)."""
        return [p for p in self.points if p.graph_ok is False]

    @property
    def checked(self) -> int:
        """Points judged: those with a truth."""
        return sum(p.checked for p in self.points)

    @property
    def unchecked(self) -> int:
        return len(self.points) - self.checked

    def by_status(self, status: str) -> list[Point]:
        return [p for p in self.points if p.status == status]

    @property
    def findings(self) -> list[dict]:
        """What the check could not judge, as finding codes of the registry (doctor/codes.py) with the
        points they concern."""
        from backpropcli.doctor.codes import code

        found = [(c, self.by_status(status)) for status, c in (
            ("not-real", "not-real"), ("undefined", "undefined-here"), ("not-differentiable", "not-differentiable"),
            ("truth-uncertain", "truth-uncertain"))]
        found.append(("numerical-truth", [p for p in self.points
                                          if p.checked and getattr(p.reference, "source", "") == "numerical"]))
        if self.points and not self.checked:
            found.insert(0, ("nothing-checked", []))
        return [{"code": c, "severity": code(c).severity, "points": [p.inputs for p in points]}
                for c, points in found if points or c == "nothing-checked"]

    def entries(self, point: Point) -> Iterator[tuple[str, Comparison]]:
        """(key, comparison) of each derivative at a point: "x" for a gradient, "xy" for a Hessian."""
        assert isinstance(point, (GradientPoint, HessianPoint))
        return point.entries(self.variables)

    def label(self, key: str) -> str:
        """∂f/∂x for a gradient entry; f″, ∂²f/∂x², ∂²f/∂x∂y for a Hessian entry."""
        if self.order is Order.GRADIENT:
            return f"∂f/∂{key}"
        if len(self.variables) == 1:
            return "f″"
        i, j = key[0], key[1]
        return f"∂²f/∂{i}²" if i == j else f"∂²f/∂{i}∂{j}"

    def worst(self) -> tuple[Point, str, float] | None:
        """The point, entry and relative error of the judged column furthest from the analytic."""
        worst = None
        for point in self.points:
            if not point.checked:
                continue
            for key, comp in self.entries(point):
                err = comp.rel_error.get(self.judged, 0.0)
                if worst is None or (not math.isnan(worst[2]) and not err <= worst[2]):  # nan is the worst
                    worst = (point, key, err)
        return worst

    def max_abs_error(self, method: str) -> float:
        """The largest error of ``method`` over every point and entry; nan if any is nan."""
        # one flat pass with the builtin max: at 10^5 points a key function per error cost seconds
        errs = [comp.abs_error[method] for p in self.points for _, comp in p.entries(self.variables)
                if method in comp.abs_error]
        if not errs:
            return 0.0
        return math.nan if any(e != e for e in errs) else max(errs)


# ---- inputs -----------------------------------------------------------------------------------


def broadcast_points(spec: FunctionSpec, points: dict[str, list[float]]) -> dict[str, list[float]]:
    """Pair the variables' points elementwise; a single value is repeated."""
    sizes = {name: len(points[name]) for name in spec.variables}
    n = max(sizes.values())
    for size in sizes.values():
        if size not in (1, n):
            listing = ", ".join(f"{k} has {v}" for k, v in sizes.items())
            raise InputError(f"the points must pair up ({listing}); give equal counts or a single value")
    return {name: points[name] * n if sizes[name] == 1 else list(points[name]) for name in spec.variables}


def _leaves(spec: FunctionSpec, points: dict[str, list[float]], dtype):
    import torch

    return [torch.tensor(points[v], dtype=dtype, requires_grad=True) for v in spec.variables]


def _param_tensors(spec: FunctionSpec, params: dict[str, float], dtype) -> dict:
    import torch

    return {p: torch.tensor(params[p], dtype=dtype) for p in spec.params}


def _gradient_fd(leaves, differentiate):
    """Central differences of ``differentiate(leaves)`` (a tuple of tensors) along each variable:
    columns[j][i] = d(output i)/d(variable j), element by element (the points are independent)."""
    return [finite_diff.partials(differentiate, leaves, j) for j in range(len(leaves))]


def subject(spec: FunctionSpec) -> Callable:
    """What the checks differentiate, called as f(*variables, *params): the custom Function,
    or autograd through the graph where there is none."""
    if spec.custom is not None:
        return spec.custom

    def through_graph(*args):
        import torch

        variables, given = args[:len(spec.variables)], args[len(spec.variables):]
        like = variables[0]
        params = [p if isinstance(p, torch.Tensor) else torch.tensor(p, dtype=like.dtype) for p in given]
        return build(spec.graph, {**dict(zip(spec.variables, variables)), **dict(zip(spec.params, params))}).result

    return through_graph


def _value_of(f: Callable, params: list):
    import torch

    def value(args):
        with torch.no_grad():
            return (f(*args, *params),)

    return value


def _gradient_of(f: Callable, params: list):
    def gradient(args):
        leaves = [a.detach().requires_grad_(True) for a in args]
        return tuple(g.detach() for g in _grads(f(*leaves, *params), leaves))

    return gradient


def _grads(output, leaves, create_graph=False):
    """d(sum output)/d(leaves); zeros where a leaf is not used."""
    import torch

    if not output.requires_grad:  # a constant (the derivative of a linear expression, say): all zero
        return [torch.zeros_like(leaf) for leaf in leaves]
    grads = torch.autograd.grad(output.sum(), leaves, create_graph=create_graph, allow_unused=True,
                                retain_graph=True)
    # autograd's storage-less zero tensors (the derivative of sign, say) become real zeros
    return [torch.zeros_like(leaf) if g is None or torch._is_zerotensor(g) else g for g, leaf in zip(grads, leaves)]


def _verify_sample(spec, points, n):
    """Indices of up to GRADCHECK_POINTS points that gradcheck can judge (float steps of 1e-6 make sense)."""
    eligible = [i for i in range(n) if all(abs(points[v][i]) <= GRADCHECK_MAX_ABS for v in spec.variables)]
    if len(eligible) <= GRADCHECK_POINTS:
        return eligible
    stride = len(eligible) / GRADCHECK_POINTS
    return [eligible[int(k * stride)] for k in range(GRADCHECK_POINTS)]


def _gradcheck(spec: FunctionSpec, points, params, order: Order) -> tuple[bool | None, int]:
    """torch.autograd.gradcheck (order 1) or gradgradcheck (order 2) on the custom Function, in
    float64, at a sample of the points. Parameters join the check (require grad) where a step
    of 1e-6 is representable at their size."""
    import torch

    n = len(points[spec.variables[0]])
    sample = _verify_sample(spec, points, n)
    if not sample:
        return None, 0
    variables = tuple(
        torch.tensor([points[v][i] for i in sample], dtype=torch.float64, requires_grad=True)
        for v in spec.variables
    )
    parameters = tuple(
        torch.tensor(params[p], dtype=torch.float64, requires_grad=abs(params[p]) <= GRADCHECK_MAX_ABS)
        for p in spec.params
    )
    inputs = variables + parameters
    leaves = [t for t in inputs if t.requires_grad]
    f = subject(spec)
    out = f(*inputs)
    if order is Order.HESSIAN:
        differentiated = torch.cat([g.reshape(-1) for g in torch.autograd.grad(out.sum(), leaves)])
    else:
        differentiated = out
    return torch_checks.passes(f, inputs, float(differentiated.detach().abs().max()), int(order)), len(sample)


# ---- the check ------------------------------------------------------------------------------------


def derivatives(spec: FunctionSpec, points: dict[str, list[float]], params: dict[str, float],
                order: Order | int = Order.GRADIENT, dtype: str = "float64",
                progress: Callable[[int, int], None] | None = None, gradcheck: bool = True) -> DerivativeCheck:
    """f and its derivatives of ``order`` at every point, four ways (five with the report's f' graph).

    ``progress(done, total)`` is called per point while the 50-digit references are computed;
    ``gradcheck=False`` skips torch's gradcheck (a plotting range needs only the columns).
    """
    import torch

    from backpropcli.functions.elementwise import one_thread

    order = Order(order)
    points = broadcast_points(spec, points)
    if spec.prepare is not None:
        spec.prepare()
    measure = _first_order if order is Order.GRADIENT else _second_order
    # one intra-op thread for the columns and gradcheck: a check's tensors are small (10^5 points
    # are 800 KB), so each of its hundreds of ops costs microseconds, less than the OpenMP region
    # torch opens for it, which on a busy machine waits for a descheduled thread (10^5 points of
    # sinc, columns and gradcheck: 2.2 s on 2 threads against 1.0 s on one, another process busy)
    with one_thread():
        columns = measure(spec, points, params, getattr(torch, dtype))
    if spec.prefetch is not None:
        spec.prefetch(columns.used, params)
    judged = "custom" if spec.custom is not None else "autograd"
    n = len(columns.values)
    refs = []
    with verdicts.gc_paused():
        for i in range(n):
            refs.append(spec.reference({v: columns.used[v][i] for v in spec.variables}, params, int(order)))
            if progress is not None:
                progress(i + 1, n)
        quick = verdicts.batch(int(order), list(spec.variables), refs, columns.present, columns.values,
                               columns.graph_values, dtype, judged)
        result = [_quick_point(spec, order, columns, i, refs[i], quick) if quick.quick[i]
                  else _point(spec, order, columns, i, refs[i], params, dtype, judged) for i in range(n)]
    # gradcheck compares autograd with a crude finite difference (fixed step 1e-6); with no
    # hand-written backward that is autograd against itself, judged more weakly than by the
    # 50-digit truth already used (and wrong near a domain edge: log at 1e-5), so it is not run
    applicable = gradcheck and spec.custom is not None
    with one_thread():
        verified, n_verified = _gradcheck(spec, points, params, order) if applicable else (None, 0)
    checked = [p for p in result if p.checked]
    ok = bool(checked) and all(p.ok for p in checked) and verified is not False
    check = DerivativeCheck(order, spec.name, list(spec.variables), dict(params), dtype, tolerance.rtol(dtype), result,
                            verified, n_verified, ok=ok, has_custom=spec.custom is not None)
    if spec.annotate is not None:
        spec.annotate(check)
    return check


@dataclass
class _Columns:
    """Every method's numbers at every point, before the references: entries[key][method][point]."""

    used: dict[str, list[float]]  # the inputs as rounded to the dtype
    values: list[float]
    graph_values: list[float]
    entries: dict[str, dict[str, list[float] | None]]

    @functools.cached_property
    def present(self) -> dict[str, list[tuple[str, list[float]]]]:
        """Per entry, the (method, column) pairs that were computed."""
        return {key: [(m, c) for m, c in methods.items() if c is not None] for key, methods in self.entries.items()}


def _graph_of(spec: FunctionSpec, points, params, tdtype, builder=None):
    leaves = _leaves(spec, points, tdtype)
    graph = build(builder or spec.graph, {**dict(zip(spec.variables, leaves)), **_param_tensors(spec, params, tdtype)})
    return graph, leaves


def _first_order(spec: FunctionSpec, points, params, tdtype) -> _Columns:
    f, args = subject(spec), [params[p] for p in spec.params]
    leaves = _leaves(spec, points, tdtype)
    out = f(*leaves, *args)
    mine = _grads(out, leaves)
    graph, graph_leaves = _graph_of(spec, points, params, tdtype)
    naive = _grads(graph.result, graph_leaves)
    fd = _gradient_fd(leaves, _value_of(f, args))
    entries = {v: {"custom": mine[j].detach().tolist() if spec.custom is not None else None,
                   "autograd": naive[j].detach().tolist(), "finite_difference": fd[j][0].tolist(),
                   "derivative_graph": None}
               for j, v in enumerate(spec.variables)}
    return _Columns(_used(spec, leaves), out.detach().tolist(), graph.result.detach().tolist(), entries)


def _second_order(spec: FunctionSpec, points, params, tdtype) -> _Columns:
    f, args = subject(spec), [params[p] for p in spec.params]
    k = len(spec.variables)
    leaves = _leaves(spec, points, tdtype)
    # reverse over reverse, so the custom backward itself is differentiated
    out = f(*leaves, *args)
    first = _grads(out, leaves, create_graph=True)
    mine = [[g.detach().tolist() for g in _grads(first[i], leaves)] for i in range(k)]
    graph, graph_leaves = _graph_of(spec, points, params, tdtype)
    naive_first = _grads(graph.result, graph_leaves, create_graph=True)
    naive = [[g.detach().tolist() for g in _grads(naive_first[i], graph_leaves)] for i in range(k)]
    derivative = None
    if spec.derivative_graph is not None and k == 1:
        d_graph, d_leaves = _graph_of(spec, points, params, tdtype, spec.derivative_graph)
        derivative = _grads(d_graph.result, d_leaves)[0].detach().tolist()
    # finite differences of the gradient: column j from a step in variable j
    fd = _gradient_fd(leaves, _gradient_of(f, args))
    entries = {f"{vi}{vj}": {"custom": mine[i][j] if spec.custom is not None else None, "autograd": naive[i][j],
                             "finite_difference": fd[j][i].tolist(), "derivative_graph": derivative}
               for i, vi in enumerate(spec.variables) for j, vj in enumerate(spec.variables)}
    return _Columns(_used(spec, leaves), out.detach().tolist(), graph.result.detach().tolist(), entries)


def _used(spec: FunctionSpec, leaves) -> dict[str, list[float]]:
    return {v: leaf.detach().tolist() for v, leaf in zip(spec.variables, leaves)}


def _quick_point(spec: FunctionSpec, order: Order, columns: _Columns, i: int, ref, quick: verdicts.Batch) -> Point:
    """One point whose every value the simple rule decided (core/verdicts.py): built from its arrays."""

    def comparison(key: str) -> Comparison:
        values = {m: column[i] for m, column in columns.present[key]}
        return Comparison(analytic=quick.truths[key][i], **values, ok=quick.entry_ok[key][i],
                          abs_error={m: quick.abs_error[key][m][i] for m in values},
                          rel_error={m: quick.rel_error[key][m][i] for m in values},
                          scale=quick.scales[key][i], digits_lost=quick.entry_lost[key][i])

    common: dict[str, Any] = dict(inputs={v: columns.used[v][i] for v in spec.variables}, value=columns.values[i],
                                  value_analytic=ref.value, value_graph=columns.graph_values[i], reference=ref,
                                  ok=quick.ok[i], graph_ok=quick.graph_ok[i], graph_digits_lost=quick.graph_lost[i])
    if order is Order.GRADIENT:
        return GradientPoint(**common, gradients={v: comparison(v) for v in spec.variables})
    return HessianPoint(**common, hessian=[[comparison(vi + vj) for vj in spec.variables] for vi in spec.variables])


def _point(spec: FunctionSpec, order: Order, columns: _Columns, i: int, ref, params, dtype: str, judged: str) -> Point:
    """One point: the reference at 50 digits against every column, by the rule of core/tolerance.py."""
    inputs = {v: columns.used[v][i] for v in spec.variables}
    present = columns.present
    common: dict[str, Any] = dict(inputs=inputs, value=columns.values[i], value_analytic=ref.value,
                                  value_graph=columns.graph_values[i], reference=ref)
    status = "checked" if ref.status == "ok" else ref.status
    allowance = judge.allowance_for(spec, ref, inputs, params, int(order), dtype)
    k = len(spec.variables)

    def comparison(truth: float, scale: float, index: int, key: str) -> Comparison:
        values = {m: column[i] for m, column in present[key]}
        if status != "checked":
            return judge.unjudged(Comparison, truth, scale, **values)
        return judge.compare(Comparison, truth, scale, index, allowance, dtype, judged, **values)

    point: Point
    if order is Order.GRADIENT:
        gradients = {v: comparison(ref.gradient[v], ref.gradient_scale[v], 1 + j, v)
                     for j, v in enumerate(spec.variables)}
        point = GradientPoint(**common, gradients=gradients, ok=None, status=status)
    else:
        assert ref.hessian is not None and ref.hessian_scale is not None
        rows = [[comparison(ref.hessian[a][b], ref.hessian_scale[a][b], 1 + k + a * k + b, vi + vj)
                 for b, vj in enumerate(spec.variables)] for a, vi in enumerate(spec.variables)]
        point = HessianPoint(**common, hessian=rows, ok=None, status=status)
    if status != "checked":
        point.graph_ok, point.graph_digits_lost = None, None
        return point
    entries = list(point.entries(spec.variables))
    point.ok = all(c.ok for _, c in entries)
    if order is Order.GRADIENT:  # a gradient check judges f's value too
        point.ok = point.ok and allowance.judge(columns.values[i], ref.value, 0, dtype)[0]
    indexed = [(1 + j if order is Order.GRADIENT else 1 + k + j, c) for j, (_, c) in enumerate(entries)]
    judge.graph_verdict(point, indexed, allowance, dtype)
    return point
