"""Gradients and Hessians compared four ways, at many points at once.

    analytic           closed form in mpmath at 50 digits (the ground truth)
    custom             the custom autograd.Function (backward, or backward of backward)
    autograd           autograd through the report's decomposed graph
    finite_difference  central differences of the custom value (or gradient)

Points are evaluated as one batch: every function is elementwise in its
points, so the gradient of the sum is the gradient at each point.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from backpropcli.errors import InputError
from backpropcli.functions import FunctionSpec
from backpropcli.functions.graph import build

COMPARED = ("custom", "autograd", "finite_difference")
RTOL = {"float64": 1e-10, "float32": 1e-5}
GRADCHECK_POINTS = 16  # gradcheck builds a dense Jacobian: a sample of points is enough
GRADCHECK_MAX_ABS = 1e6  # beyond this its fixed step 1e-6 is close to the spacing of floats


@dataclass
class Comparison:
    """One derivative at one point, by every method, with errors against the analytic one."""

    analytic: float
    custom: float
    autograd: float
    finite_difference: float
    ok: bool
    abs_error: dict[str, float] = field(default_factory=dict)
    rel_error: dict[str, float] = field(default_factory=dict)
    derivative_graph: float | None = None  # the report's graph of f' differentiated (Figure 7)
    scale: float | None = None  # size of the cancelling terms (the yardstick near a zero)

    def methods(self) -> dict[str, float]:
        values = {m: getattr(self, m) for m in COMPARED}
        if self.derivative_graph is not None:
            values["derivative_graph"] = self.derivative_graph
        return values


@dataclass
class Point:
    inputs: dict[str, float]
    value: float  # the custom Function's value
    value_analytic: float
    value_graph: float  # the report's graph: nan or inf where it breaks
    ok: bool
    gradients: dict[str, Comparison] | None = None
    hessian: list[list[Comparison]] | None = None
    graph_ok: bool = True  # the report's graph (its value and autograd through it) within the tolerance
    graph_digits_lost: float = 0.0  # the most decimal digits it lost, of the dtype's ~16 (float64) or ~7


@dataclass
class Check:
    command: str  # "grad" or "hessian"
    function: str
    variables: list[str]
    params: dict[str, float]
    dtype: str
    rtol: float
    points: list[Point]
    verified: bool | None  # gradcheck / gradgradcheck verdict; None when no point was eligible
    verified_points: int
    ok: bool

    @property
    def graph_failures(self) -> list[Point]:
        """Points where the report's graph, or autograd through it, is wrong beyond the tolerance:
        nan/inf where the truth is finite, and finite but wrong (sinc's f' at x = 1e-8 comes out 0)."""
        return [p for p in self.points if not p.graph_ok]

    def worst(self) -> tuple[Point, str, float] | None:
        """The point, entry and relative error of the custom column furthest from the analytic."""
        best = None
        for point in self.points:
            for label, comp in entries(self, point):
                err = comp.rel_error.get("custom", 0.0)
                if best is None or not err <= best[2]:
                    best = (point, label, err)
        return best

    def max_abs_error(self, method: str) -> float:
        errs = [comp.abs_error[method] for p in self.points for _, comp in entries(self, p)]
        return max(errs, key=lambda e: (math.isnan(e), e)) if errs else 0.0


def entry_label(check: Check, label: str) -> str:
    """∂f/∂x for a gradient entry; f″, ∂²f/∂x², ∂²f/∂x∂y for a Hessian entry."""
    if check.command == "grad":
        return f"∂f/∂{label}"
    if len(check.variables) == 1:
        return "f″"
    i, j = label[0], label[1]
    return f"∂²f/∂{i}²" if i == j else f"∂²f/∂{i}∂{j}"


def entries(check: Check, point: Point):
    if point.gradients is not None:
        yield from point.gradients.items()
    if point.hessian is not None:
        for i, row in enumerate(point.hessian):
            for j, comp in enumerate(row):
                yield f"{check.variables[i]}{check.variables[j]}", comp


# ---- tolerances ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _limits(dtype: str) -> tuple[float, float]:
    """(unit roundoff, smallest normal) of a dtype."""
    import torch

    info = torch.finfo(getattr(torch, dtype))
    return info.eps / 2, info.tiny


def _within(value: float, ref: float, scale: float, dtype: str) -> bool:
    """|value - ref| <= rtol*|ref| + 8u*scale + tiny.

    The scale term (8 units in the last place of the cancelling terms) handles
    points near a zero of the quantity, where relative error means nothing; the
    tiny term (smallest normal number) handles true values that underflow.
    """
    u, tiny = _limits(dtype)
    if not math.isfinite(value):
        # an overflow that the true value shares is right: quad at x = 1e200 in float64, and at
        # x = 1e20 in float32, whose range ends at 3.4e38 (the truth is float64, so round it first)
        return value == _as_dtype(ref, dtype)
    return abs(value - ref) <= RTOL[dtype] * abs(ref) + 8 * u * abs(scale) + tiny


def _as_dtype(ref: float, dtype: str) -> float:
    """The true value as the dtype holds it: inf beyond its range (6e40 in float32), as in float64 at 1e400."""
    if dtype == "float64" or not math.isfinite(ref):
        return ref
    import torch

    return torch.tensor(ref, dtype=getattr(torch, dtype)).item()


def digits_lost(value: float, ref: float, scale: float, dtype: str) -> float:
    """Decimal digits lost against the truth: log10(error / (u·yardstick)), from 0 to all of them.

    The yardstick is max(|ref|, scale): near a zero of the quantity the size of its
    cancelling terms, as in the tolerance. A nan, or an inf where the truth is finite, lost all.
    """
    u, tiny = _limits(dtype)
    every = -math.log10(u)
    ref = _as_dtype(ref, dtype)
    if value == ref:
        return 0.0
    if not (math.isfinite(value) and math.isfinite(ref)):
        return every
    error = abs(value - ref) / max(abs(ref), abs(scale), tiny)
    return min(every, max(0.0, math.log10(error / u))) if error > 0 else 0.0


def _graph_verdict(point: Point, dtype: str, value_scale: float) -> None:
    """Judge the report's graph at ``point``: its value and every autograd column through it."""
    pairs = [(point.value_graph, point.value_analytic, value_scale)]
    comps = list(point.gradients.values()) if point.gradients is not None else []
    comps += [c for row in point.hessian or [] for c in row]
    for comp in comps:
        scale = comp.scale if comp.scale is not None else abs(comp.analytic)
        pairs.append((comp.autograd, comp.analytic, scale))
        if comp.derivative_graph is not None:
            pairs.append((comp.derivative_graph, comp.analytic, scale))
    point.graph_ok = all(_within(v, r, sc, dtype) for v, r, sc in pairs)
    point.graph_digits_lost = max(digits_lost(v, r, sc, dtype) for v, r, sc in pairs)


def _relative(error: float, ref: float) -> float:
    if ref != 0:
        return error / abs(ref)
    return error if math.isnan(error) or error == 0 else math.inf


def _compare(ref: float, scale: float, dtype: str, **values: float | None) -> Comparison:
    abs_err = {m: abs(v - ref) for m, v in values.items() if v is not None}
    rel_err = {m: _relative(e, ref) for m, e in abs_err.items()}
    return Comparison(analytic=ref, **values, ok=_within(values["custom"], ref, scale, dtype),
                      abs_error=abs_err, rel_error=rel_err, scale=scale)


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


def _step(x, dtype):
    """Central-difference step: cbrt(eps) balances truncation (h^2) and rounding (eps/h)."""
    import torch

    h = torch.finfo(dtype).eps ** (1 / 3) * torch.clamp_min(x.abs(), 1)
    # make x + h exactly representable so the divisor is the true step
    return ((x + h) - x).detach()


def _gradient_fd(leaves, dtype, differentiate):
    """Central differences of ``differentiate(leaves)`` (a tuple of tensors) along each variable."""
    columns = []
    base = [leaf.detach() for leaf in leaves]
    for j in range(len(leaves)):
        h = _step(base[j], dtype)
        up = [b.clone() for b in base]
        down = [b.clone() for b in base]
        up[j] = base[j] + h
        down[j] = base[j] - h
        f_up, f_down = differentiate(up), differentiate(down)
        columns.append([(u - d) / (2 * h) for u, d in zip(f_up, f_down)])
    return columns  # columns[j][i]: d(output i)/d(variable j)


def _custom_value(spec, params):
    import torch

    def value(args):
        with torch.no_grad():
            return (spec.custom(*args, *[params[p] for p in spec.params]),)

    return value


def _custom_gradient(spec, params):
    import torch

    def gradient(args):
        leaves = [a.detach().requires_grad_(True) for a in args]
        out = spec.custom(*leaves, *[params[p] for p in spec.params])
        return tuple(g.detach() for g in torch.autograd.grad(out.sum(), leaves))

    return gradient


def _grads(output, leaves, create_graph=False):
    """d(sum output)/d(leaves); zeros where a leaf is not used."""
    import torch

    grads = torch.autograd.grad(output.sum(), leaves, create_graph=create_graph, allow_unused=True,
                                retain_graph=True)
    return [torch.zeros_like(l) if g is None else g for g, l in zip(grads, leaves)]


def _verify_sample(spec, points, n):
    """Indices of up to GRADCHECK_POINTS points that gradcheck can judge (float steps of 1e-6 make sense)."""
    eligible = [i for i in range(n) if all(abs(points[v][i]) <= GRADCHECK_MAX_ABS for v in spec.variables)]
    if len(eligible) <= GRADCHECK_POINTS:
        return eligible
    stride = len(eligible) / GRADCHECK_POINTS
    return [eligible[int(k * stride)] for k in range(GRADCHECK_POINTS)]


def run_gradcheck(spec: FunctionSpec, points, params, second_order: bool) -> tuple[bool | None, int]:
    """torch.autograd.gradcheck (or gradgradcheck) on the custom Function, in float64.

    Its finite differences use a fixed step of 1e-6, so they carry a rounding
    error of about u·|f|/1e-6 (u = 2^-53): for quad at x ~ 1e5, where f ~ 1e10,
    that is ~1, far above gradcheck's default atol of 1e-5. The atol used here
    is that rounding error times 10 (never below 1e-5), so the verdict judges the
    backward, not the limits of the step. Parameters join the check (require
    grad) where a step of 1e-6 is representable at their size.
    """
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
    out = spec.custom(*inputs)
    if second_order:
        differentiated = torch.cat([g.reshape(-1) for g in torch.autograd.grad(out.sum(), leaves)])
    else:
        differentiated = out
    eps = 1e-6
    rounding = torch.finfo(torch.float64).eps / 2 * float(differentiated.detach().abs().max()) / eps
    atol = max(1e-5, 10 * rounding)
    check = torch.autograd.gradgradcheck if second_order else torch.autograd.gradcheck
    try:
        passed = check(spec.custom, inputs, eps=eps, atol=atol, raise_exception=False)
    except RuntimeError:
        passed = False
    return bool(passed), len(sample)


# ---- the two checks -------------------------------------------------------------------------------


def gradients(spec: FunctionSpec, points: dict[str, list[float]], params: dict[str, float],
              dtype: str = "float64", progress=None) -> Check:
    """f and its gradient at every point, four ways."""
    import torch

    tdtype = getattr(torch, dtype)
    points = broadcast_points(spec, points)
    leaves = _leaves(spec, points, tdtype)
    used = {v: leaf.detach().tolist() for v, leaf in zip(spec.variables, leaves)}  # inputs as rounded to dtype

    out = spec.custom(*leaves, *[params[p] for p in spec.params])
    custom = _grads(out, leaves)

    graph_leaves = _leaves(spec, points, tdtype)
    graph = build(spec.graph, {**dict(zip(spec.variables, graph_leaves)), **_param_tensors(spec, params, tdtype)})
    naive = _grads(graph.result, graph_leaves)

    fd = _gradient_fd(leaves, tdtype, _custom_value(spec, params))

    values, graph_values = out.detach().tolist(), graph.result.detach().tolist()
    custom_l = [g.detach().tolist() for g in custom]
    naive_l = [g.detach().tolist() for g in naive]
    fd_l = [col[0].tolist() for col in fd]

    result = []
    for i in range(len(values)):
        inputs = {v: used[v][i] for v in spec.variables}
        ref = spec.reference(inputs, params, 1)
        comps = {
            v: _compare(ref.gradient[v], ref.gradient_scale[v], dtype,
                        custom=custom_l[j][i], autograd=naive_l[j][i], finite_difference=fd_l[j][i])
            for j, v in enumerate(spec.variables)
        }
        value_ok = _within(values[i], ref.value, ref.value_scale, dtype)
        point = Point(inputs=inputs, value=values[i], value_analytic=ref.value, value_graph=graph_values[i],
                      gradients=comps, ok=value_ok and all(c.ok for c in comps.values()))
        _graph_verdict(point, dtype, ref.value_scale)
        result.append(point)
        if progress is not None:
            progress(i + 1, len(values))

    verified, n_verified = run_gradcheck(spec, points, params, second_order=False)
    return Check("grad", spec.name, list(spec.variables), dict(params), dtype, RTOL[dtype], result,
                 verified, n_verified, ok=all(p.ok for p in result) and verified is not False)


def hessians(spec: FunctionSpec, points: dict[str, list[float]], params: dict[str, float],
             dtype: str = "float64", progress=None) -> Check:
    """The Hessian in the function's variables at every point, four ways (five with the report's f' graph)."""
    import torch

    tdtype = getattr(torch, dtype)
    points = broadcast_points(spec, points)
    leaves = _leaves(spec, points, tdtype)
    used = {v: leaf.detach().tolist() for v, leaf in zip(spec.variables, leaves)}
    k = len(spec.variables)

    # custom: reverse over reverse, so the custom backward itself is differentiated
    out = spec.custom(*leaves, *[params[p] for p in spec.params])
    first = _grads(out, leaves, create_graph=True)
    custom = [[g.detach().tolist() for g in _grads(first[i], leaves)] for i in range(k)]

    graph_leaves = _leaves(spec, points, tdtype)
    param_t = _param_tensors(spec, params, tdtype)
    graph = build(spec.graph, {**dict(zip(spec.variables, graph_leaves)), **param_t})
    naive_first = _grads(graph.result, graph_leaves, create_graph=True)
    naive = [[g.detach().tolist() for g in _grads(naive_first[i], graph_leaves)] for i in range(k)]

    derivative = None
    if spec.derivative_graph is not None and k == 1:
        d_leaf = _leaves(spec, points, tdtype)
        d_graph = build(spec.derivative_graph, {spec.variables[0]: d_leaf[0], **param_t})
        derivative = _grads(d_graph.result, d_leaf)[0].detach().tolist()

    # finite differences of the custom gradient: column j from a step in variable j
    fd = _gradient_fd(leaves, tdtype, _custom_gradient(spec, params))
    fd_l = [[fd[j][i].tolist() for j in range(k)] for i in range(k)]  # fd_l[i][j][point]

    values, graph_values = out.detach().tolist(), graph.result.detach().tolist()
    result = []
    for p in range(len(values)):
        inputs = {v: used[v][p] for v in spec.variables}
        ref = spec.reference(inputs, params, 2)
        rows = [[
            _compare(ref.hessian[i][j], ref.hessian_scale[i][j], dtype, custom=custom[i][j][p],
                     autograd=naive[i][j][p], finite_difference=fd_l[i][j][p],
                     derivative_graph=None if derivative is None else derivative[p])
            for j in range(k)] for i in range(k)]
        point = Point(inputs=inputs, value=values[p], value_analytic=ref.value, value_graph=graph_values[p],
                      hessian=rows, ok=all(c.ok for row in rows for c in row))
        _graph_verdict(point, dtype, ref.value_scale)
        result.append(point)
        if progress is not None:
            progress(p + 1, len(values))

    verified, n_verified = run_gradcheck(spec, points, params, second_order=True)
    return Check("hessian", spec.name, list(spec.variables), dict(params), dtype, RTOL[dtype], result,
                 verified, n_verified, ok=all(p.ok for p in result) and verified is not False)
