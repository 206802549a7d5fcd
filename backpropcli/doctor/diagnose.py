"""`backprop check`: a doctor for the user's own torch.autograd.Function.

diagnose(target, points, params, reference) compares the hand-written backward
with the truth at every point, probes what the Function supports, and turns
every mismatch into a finding with a stable code (like a linter's). It never
prints; it returns a Diagnosis.

The truth, per point and variable, is the first of:
  reference          the given reference(inputs, params, order) (50 digits)
  autograd           autograd through the Function's own forward ops, called as
                     plain torch code with grad enabled (forward(*args) for the
                     setup_context style, forward(ctx_stub, *args) for the old
                     style) — trusted where it agrees with the finite difference,
                     so a forward that detaches, uses .numpy() or no_grad is caught
  finite_difference  central differences of the Function's value in float64,
                     Richardson-extrapolated twice (error O(h^6), ~1e-12)

Every point is evaluated in one tensor (the Function is taken to be elementwise
in its points, as `grad` does); the capability probes (torch.func, vmap,
forward AD, double backward, float32, strides) run on a small sample of them.

Severity "error" means a wrong first derivative (reverse or forward mode). A point where
the truth is not finite (an overflow, a pole) cannot be checked: it is counted in
``unchecked``, never judged, and never given to a probe. The Diagnosis is ok iff there is
no error finding and at least one point was checked; when none could be, the finding is
``nothing-checked`` and every capability is null with that reason.

Finding codes (stable):
  error    backward-raises, ignores-grad-output, grad-output-misused, swapped-gradients,
           sign-flipped, scaled-by (factor = custom/truth, factor_text "1/3"), returns-zero,
           wrong-at-points (worst points), nan-where-finite (points), wrong-jvp,
           wrong-non-contiguous
  warning  nothing-checked (no point has a finite truth: nothing was verified, so not ok),
           value-differs (forward vs the reference), dtype-changed, not-twice-differentiable,
           wrong-second-derivative (points), no-setup-context, no-jvp, no-vmap-rule,
           fails-non-contiguous, no-batched-grad
A second-order mismatch that follows from a wrong first derivative is not reported twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from backpropcli.core import finite_diff, tolerance
from backpropcli.core import gradcheck as torch_checks
from backpropcli.doctor.loader import Target
from backpropcli.doctor.sandbox import raised_at
from backpropcli.errors import BackpropError, InputError
from backpropcli.present.fmt import fraction, num

CAPABILITIES = ("backward", "grad-output", "double-backward", "forward-ad", "torch.func.grad",
                "torch.func.vmap", "torch.func.hessian", "float32", "non-contiguous", "batched-grad")
VARIABLES = ("x", "y")
SAMPLE = 8  # points the capability probes run on
WORST = 5  # points listed in a wrong-at-points finding
# first derivative vs the truth (itself ~1e-10); second: a difference of differences (~1e-8)
RTOL = {dtype: tolerance.rtol(dtype, 1, "numerical") for dtype in ("float64", "float32")}
RTOL_SECOND = tolerance.rtol("float64", 2, "numerical")
SIGNIFICANT = 1e-3  # |truth| above this fraction of the largest counts when fitting a factor


@dataclass
class Capability:
    name: str
    ok: bool | None  # None: not applicable or skipped; detail says why
    detail: str


@dataclass
class Finding:
    code: str
    severity: str  # "error" (a wrong first derivative) or "warning"
    message: str
    extra: dict = field(default_factory=dict)  # e.g. {"factor": 1/3} or {"points": [...]}

    def as_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message, **self.extra}


@dataclass
class Gradient:
    """One partial derivative at one point, every way; ``truth`` is the one judged against."""

    reference: float | None
    custom: float
    autograd: float | None  # autograd through forward's ops (None: not traceable)
    finite_difference: float
    truth: float
    truth_source: str  # "reference" | "autograd" | "finite_difference" | "none"
    abs_error: dict[str, float]
    ok: bool | None  # None: no finite truth to judge against


@dataclass
class Point:
    inputs: dict[str, float]
    value: float
    gradients: dict[str, Gradient]
    ok: bool


@dataclass
class Diagnosis:
    target: str
    kind: str  # "function" | "function-ctx" | "callable"
    variables: list[str]
    params: dict[str, float]
    truth: str  # where the truth mostly came from
    ok: bool
    capabilities: list[Capability]
    findings: list[Finding]
    points: list[Point]
    timings: dict[str, float]  # seconds per stage
    warnings: list[str] = field(default_factory=list)  # Python warnings the user's code raised, once each
    dtype: str = "float64"  # of the inputs in the table's custom column
    unchecked: int = 0  # points where the truth is not finite, so nothing could be judged there
    reference: str | None = None  # the --reference as given (a built-in's name or an expression), for labels

    @property
    def checked(self) -> int:
        return len(self.points) - self.unchecked

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def capability(self, name: str) -> Capability:
        return next(c for c in self.capabilities if c.name == name)

    def as_dict(self) -> dict:
        """The `check` JSON object of DESIGN.md (non-finite floats as "nan"/"inf" strings)."""
        from backpropcli.present.jsonfmt import plain
        from backpropcli.present.payloads import diagnosis

        return plain(diagnosis(self))


# ---- small helpers --------------------------------------------------------------------------------


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


class _CtxStub:
    """What an old-style forward(ctx, ...) may call on ctx while it runs as plain torch code."""

    def __init__(self, n_inputs: int):
        self.needs_input_grad = (True,) * n_inputs
        self.saved_tensors = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def save_for_forward(self, *tensors):
        pass

    def mark_dirty(self, *args):
        pass

    def mark_non_differentiable(self, *args):
        pass

    def set_materialize_grads(self, value):
        pass


class _Runner:
    """Calls the target with its variables as tensors and its params as constants, in forward's order."""

    def __init__(self, target: Target, points: dict, params: dict):
        names = target.inputs
        params = dict(params)
        if names is None:  # *args: the variables, then the params in the order given
            nvars = len([v for v in VARIABLES if v in points])
            self.order = [("var", i) for i in range(nvars)] + [("param", p) for p in params]
        else:
            unknown = [p for p in params if p not in names]
            if unknown:
                raise InputError(f"{target.name} takes ({', '.join(names)}); it has no parameter "
                                 f"{', '.join(map(repr, unknown))}")
            free = [n for n in names if n not in params]
            required = target.required if target.required is not None else free
            nvars = len([n for n in free if n in required]) or len(free[:1])
            self.order = []
            seen = 0
            for n in names:
                if n in params:
                    self.order.append(("param", n))
                elif seen < nvars:
                    self.order.append(("var", seen))
                    seen += 1
                else:
                    break
        if nvars not in (1, 2):
            shown = f"({', '.join(names)})" if names else "its inputs"
            raise InputError(f"check handles one or two tensor inputs; {target.name} takes {shown}: "
                             "give the others as params")
        given = [v for v in VARIABLES if v in points]
        if len(given) != nvars or given != list(VARIABLES[:nvars]):
            wanted = " and ".join(f"--{v}" for v in VARIABLES[:nvars])
            raise InputError(f"{target.name} takes {nvars} tensor input{'s' * (nvars > 1)}"
                             f"{' (' + ', '.join(n for n in (names or []) if n not in params) + ')' if names else ''}"
                             f": give points with {wanted}")
        self.variables = list(VARIABLES[:nvars])
        self.params = params
        self.target = target

    def args(self, tensors) -> list:
        return [tensors[i] if kind == "var" else self.params[i] for kind, i in self.order]

    def apply(self, *tensors):
        return self.target.apply(*self.args(tensors))

    def forward_ops(self, *tensors):
        """The forward's own ops, recorded by autograd (not through the custom backward)."""
        obj = self.target.obj
        if self.target.kind == "function":
            return obj.forward(*self.args(tensors))
        if self.target.kind == "function-ctx":
            args = self.args(tensors)
            return obj.forward(_CtxStub(len(args)), *args)
        return obj(*self.args(tensors))


def _finite_difference(value: Callable, tensors: list, j: int):
    """d value/d tensors[j] element by element, central differences extrapolated twice (error ~1e-13)."""
    return finite_diff.partials(lambda ts: (value(ts),), tensors, j, extrapolations=2)[0]


# ---- the diagnosis ---------------------------------------------------------------------------------


def diagnose(target: Target, points: dict[str, list[float]], params: dict[str, float] | None = None,
             reference: Callable | None = None, sample: int = SAMPLE, dtype: str = "float64",
             reference_label: str | None = None) -> Diagnosis:
    """Check ``target`` at ``points`` ({"x": [...]} or {"x": [...], "y": [...]}; a single value repeats).

    ``params`` are passed as constants by name (e.g. Quad's a, b, c). ``reference(inputs, params,
    order)`` returns a functions.spec.Reference; without it the truth comes from the forward's own
    ops or from finite differences. Warnings raised while the user's code runs (deprecations,
    gradcheck's dtype notes) are collected in Diagnosis.warnings, never printed. ``dtype``
    "float32" runs the table's custom column in float32 (points rounded to float32 first) and
    judges it at float32's tolerance; the truth and the probes stay in float64.
    """
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _diagnose(target, points, params, reference, sample, dtype)
    import os

    import torch

    torch_dir = os.path.dirname(torch.__file__)
    seen: list[str] = []
    for w in caught:
        if str(w.filename).startswith(torch_dir):
            continue  # torch's own notes (deprecations, our probes' dtypes), not about the user's code
        text = f"{w.category.__name__}: {str(w.message).strip().splitlines()[0] if str(w.message).strip() else ''}"
        if text not in seen:
            seen.append(text)
    result.warnings = seen
    result.reference = reference_label
    return result


class _Findings(dict):
    """Findings by code; the first one of each code is kept."""

    def add(self, code: str, severity: str, message: str, **extra) -> None:
        if code not in self:
            self[code] = Finding(code, severity, message, extra)

    def ordered(self) -> list[Finding]:
        """Errors first, then by the order of _ORDER."""
        return sorted(self.values(), key=lambda f: (f.severity != "error", _ORDER.index(f.code)
                                                    if f.code in _ORDER else len(_ORDER)))


def _columns(points: dict, variables: list[str], dtype: str):
    """One float64 tensor per variable, a single value repeated; rounded to ``dtype`` first,
    so that every column of the table sees the same inputs."""
    import torch

    sizes = {v: len(points[v]) for v in variables}
    n = max(sizes.values())
    if n == 0 or any(s not in (1, n) for s in sizes.values()):
        raise InputError("the points must pair up: give equal counts or a single value")
    kind = getattr(torch, dtype)
    return [torch.tensor(list(points[v]) * (n if sizes[v] == 1 else 1), dtype=kind).to(torch.float64)
            for v in variables]


def _custom_pass(run: _Runner, columns, dtype: str, findings: _Findings | None):
    """The Function's value and backward at every point (grad_output = 1), inputs in ``dtype``.

    Returns (values, custom gradients, backward's error or None, output dtype), all in float64.
    """
    import torch

    name = run.target.name
    leaves = [c.to(getattr(torch, dtype), copy=True).requires_grad_(True) for c in columns]
    try:
        out = run.apply(*leaves)
    except Exception as e:
        # the first call of forward: like a load error, it is the Function that cannot be used (exit 2)
        raise InputError(f"calling {name}'s forward on the points raised {_one_line(e)}{raised_at(e)}") from None
    if not isinstance(out, torch.Tensor) or out.shape != columns[0].shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(f"{name} must be elementwise (one output shaped like its input, {len(columns[0])}); "
                         f"it returned {got}")
    got = str(out.dtype).removeprefix("torch.")
    if not (out.is_floating_point() or out.is_complex()):
        raise InputError(f"{name}'s forward returned {'a boolean' if got == 'bool' else 'an integer'} tensor "
                         f"({got}): autograd cannot differentiate it; return a floating tensor")
    if got != dtype and findings is not None:
        findings.add("dtype-changed", "warning",
                     f"forward returns {got} for {dtype} input, so values and gradients carry {got} error; "
                     "compute in the input's dtype (no .float()/.double()/dtype=... in forward or backward)",
                     dtype=got)
    backward_error = None
    try:
        grads = torch.autograd.grad(out, leaves, torch.ones_like(out), allow_unused=True)
        custom = [torch.zeros_like(c) if g is None else g.detach().to(torch.float64)
                  for g, c in zip(grads, columns)]
    except Exception as e:
        backward_error = _one_line(e)
        custom = [torch.full_like(c, math.nan) for c in columns]
    return out.detach().to(torch.float64), custom, backward_error, got


def _reference_pass(reference: Callable, inputs: list[dict], params: dict, variables: list[str], values,
                    rtol: float, findings: _Findings):
    """The reference's gradient at every point (one call each); flags a value that differs from forward's."""
    import torch

    try:
        refs = [reference(inp, params, 1) for inp in inputs]
        ref = [torch.tensor([float(r.gradient[v]) for r in refs], dtype=torch.float64) for v in variables]
        ref_values = torch.tensor([float(r.value) for r in refs], dtype=torch.float64)
    except Exception as e:
        raise BackpropError(f"the reference failed: {_one_line(e)}") from None
    differs = torch.isfinite(ref_values) & ~tolerance.close(values, ref_values, rtol, rtol * 1e-2 * tolerance.scale_of(ref_values) + 1e-300)
    if bool(differs.any()):
        i = int(differs.nonzero()[0])
        findings.add("value-differs", "warning",
                     f"forward's value differs from the reference at {int(differs.sum())} of {len(inputs)} points "
                     f"(e.g. {_where(inputs[i])}: {num(float(values[i]), 6)} vs {num(float(ref_values[i]), 6)}); "
                     "is it the same function?",
                     points=[inputs[q] for q in differs.nonzero().flatten().tolist()[:WORST]])
    return ref


def _truth(ref, fd, autograd, n: int):
    """Per variable: the truth and where it came from at each point, and where it mostly came from.

    The reference when given; else autograd through forward where it agrees with the finite
    difference; else the finite difference; "none" where the truth is not finite.
    """
    import torch

    truth, source = [], []
    for j in range(len(fd)):
        if ref is not None:
            t, s = ref[j], ["reference"] * n
        else:
            t, s = fd[j].clone(), ["finite_difference"] * n
            if autograd is not None:
                atol = 1e-7 * max(tolerance.scale_of(fd[j]), 1e-300)
                agree = torch.isfinite(autograd[j]) & tolerance.close(autograd[j], fd[j], 1e-5, atol)
                t = torch.where(agree, autograd[j], t)
                s = ["autograd" if a else "finite_difference" for a in agree.tolist()]
            s = [src if math.isfinite(tv) else "none" for src, tv in zip(s, t.tolist())]
        truth.append(t)
        source.append(s)
    sources = {src for s in source for src in s if src != "none"}
    kind = "reference" if ref is not None else ("autograd" if "autograd" in sources else "finite_difference")
    return truth, source, kind


def _yardstick(truth, values, x):
    """Per point, the size a derivative's error is measured against where the derivative itself
    is near 0: |f|/max(|x|, 1), the size of the terms that cancel there (sinc's f′ = (cos x - f)/x
    at its zeros), or |f′| itself. Per point, never the largest over all points: a huge point
    elsewhere must not make a wrong small gradient pass."""
    import torch

    size = torch.maximum(truth.abs(), values.abs() / x.abs().clamp_min(1))
    return torch.where(torch.isfinite(size), size, torch.zeros_like(size))


def _judge(custom, truth, rtol: float, values, columns):
    """(judged, ok) per variable: where the truth is finite, and where custom is within rtol of it."""
    import torch

    judged, oks = [], []
    for c, t, x in zip(custom, truth, columns):
        finite = torch.isfinite(t)
        ok = tolerance.close(c, t, rtol, rtol * 1e-2 * _yardstick(t, values, x) + 1e-300) & torch.isfinite(c)
        judged.append(finite)
        oks.append(ok | ~finite)
    return judged, oks


def _diagnose(target, points, params, reference, sample, dtype) -> Diagnosis:
    import torch

    timings: dict[str, float] = {}
    started = time.perf_counter()
    params = dict(params or {})
    run = _Runner(target, points, params)
    variables = run.variables
    columns = _columns(points, variables, dtype)
    n = len(columns[0])
    findings = _Findings()
    values, custom, backward_error, out_dtype = _custom_pass(run, columns, dtype, findings)
    # the probes compare float64 runs of the Function with this pass: a float32 table needs a float64 one too
    probe_custom = custom if dtype == "float64" else _custom_pass(run, columns, "float64", None)[1]
    rtol = RTOL["float64" if out_dtype == "float64" else "float32"]
    timings["custom"] = time.perf_counter() - started

    t0 = time.perf_counter()

    def value(tensors):
        with torch.no_grad():
            return run.apply(*tensors).to(torch.float64)

    fd = [_finite_difference(value, columns, j) for j in range(len(columns))]
    autograd, untraceable = _through_forward(run, columns, fd, target)
    timings["finite_difference_and_autograd"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    inputs = [dict(zip(variables, row)) for row in zip(*(c.tolist() for c in columns))]
    ref = None if reference is None else _reference_pass(reference, inputs, params, variables, values, rtol, findings)
    timings["reference"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    truth, source, truth_kind = _truth(ref, fd, autograd, n)
    judged, oks = _judge(custom, truth, rtol, values, columns)
    _first_derivative_findings(findings.add, variables, columns, custom, truth, judged, oks, backward_error)
    points_out = _points(variables, inputs, values, custom, autograd, fd, truth, source, ref, judged, oks)
    timings["compare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    unchecked = sum(all(g.ok is None for g in p.gradients.values()) for p in points_out)
    if unchecked == n:
        capabilities = _nothing_checked(findings.add, inputs, values, n)
    else:
        idx = _sample_indices(judged, probe_custom, n, sample)
        probes = _Probes(run, target, columns, idx, probe_custom, truth, ref, reference, inputs, params,
                         backward_error, findings.add, findings, autograd is not None and untraceable is None)
        probes.unchecked = (unchecked, n)
        capabilities = probes.all()
        timings.update({f"probe {name}": t for name, t in probes.times.items()})
    timings["capabilities"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started

    ordered = findings.ordered()
    return Diagnosis(target=target.spec, kind=target.kind, variables=variables, params=params,
                     truth=truth_kind, ok=unchecked < n and not any(f.severity == "error" for f in ordered),
                     capabilities=capabilities, findings=ordered, points=points_out,
                     timings={k: round(v, 4) for k, v in timings.items()}, dtype=dtype, unchecked=unchecked)


def _nothing_checked(add, inputs, values, n: int) -> list[Capability]:
    """No point has a finite truth: say so, and judge nothing (a probe on inf/nan numbers can only
    mislead: inf is not "a gradient of 0", and inf - inf is not "backward is not linear")."""
    why = "the truth is not finite at any point"
    bad = [i for i, v in enumerate(values.tolist()) if not math.isfinite(v)]
    if bad:
        why += f" (forward gives {num(float(values[bad[0]]), 6)} at {_where(inputs[bad[0]])}: an overflow?)"
    add("nothing-checked", "warning",
        f"no point could be checked: {why}, so nothing was verified; give points where f and f′ are finite")
    return [Capability(name, None, f"not checked: {why}" if name == "backward"
                       else "not checked: no point has a finite truth") for name in CAPABILITIES]


_ORDER = ("backward-raises", "nothing-checked", "value-differs", "ignores-grad-output", "grad-output-misused",
          "swapped-gradients", "sign-flipped",
          "scaled-by", "returns-zero", "wrong-at-points", "nan-where-finite", "wrong-jvp", "wrong-non-contiguous",
          "dtype-changed", "not-twice-differentiable", "wrong-second-derivative", "no-setup-context", "no-jvp",
          "no-vmap-rule", "fails-non-contiguous", "no-batched-grad")


def _through_forward(run: _Runner, columns, fd, target: Target):
    """Autograd through the forward's own ops, or (None, reason) when they are not traceable."""
    import torch

    if target.kind == "callable":
        return None, "a plain callable: autograd through it is what is checked"
    leaves = [c.clone().requires_grad_(True) for c in columns]
    try:
        with torch.enable_grad():
            out = run.forward_ops(*leaves)
            if not isinstance(out, torch.Tensor) or not out.requires_grad:
                return None, "forward's result does not require grad (detach, .numpy(), no_grad or a new tensor)"
            grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
    except Exception as e:
        return None, f"forward's ops cannot be differentiated: {_one_line(e)}"
    autograd = [torch.zeros_like(c) if g is None else g.detach().to(torch.float64) for g, c in zip(grads, columns)]
    # a partly detached forward differentiates to the wrong number: trust it only where FD agrees mostly
    for a, f in zip(autograd, fd):
        both = torch.isfinite(a) & torch.isfinite(f)
        agree = tolerance.close(a, f, 1e-5, 1e-7 * max(tolerance.scale_of(f), 1e-300)) & both
        if int(both.sum()) and int(agree.sum()) < 0.9 * int(both.sum()):
            return None, "autograd through forward disagrees with finite differences (a detached step?)"
    return autograd, None


def _first_derivative_findings(add, variables, columns, custom, truth, judged, oks, backward_error):
    import torch

    if backward_error is not None:
        add("backward-raises", "error", f"backward raised {backward_error}")
        return
    nan_points, wrong = [], {}
    for j in range(len(variables)):
        bad = judged[j] & ~oks[j]
        nan_points += (bad & ~torch.isfinite(custom[j])).nonzero().flatten().tolist()
        rest = bad & torch.isfinite(custom[j])
        if bool(rest.any()):
            wrong[j] = rest
    if nan_points:
        pts = sorted(set(nan_points))
        shown = [{v: float(columns[j][i]) for j, v in enumerate(variables)} for i in pts[:WORST]]
        add("nan-where-finite", "error",
            f"backward gives nan/inf at {len(pts)} point{'s' * (len(pts) > 1)} where the derivative is finite "
            f"(e.g. {_where(shown[0])}): a removable singularity; use the limit there (a series branch, "
            "or torch.where with a safe input in the untaken branch)", points=shown)
    if not wrong:
        return
    comparable = [judged[j] & torch.isfinite(custom[j]) for j in range(len(variables))]
    if len(variables) == 2 and len(wrong) == 2 and _swapped(custom, truth, comparable):
        add("swapped-gradients", "error",
            f"backward returns the gradient of {variables[1]} in {variables[0]}'s place and vice versa; "
            "return the gradients in the order of forward's inputs")
        return
    for j, rest in wrong.items():
        _wrong_derivative(add, variables, j, columns, custom[j], truth[j], comparable[j], rest, judged[j])


def _swapped(custom, truth, comparable) -> bool:
    both = comparable[0] & comparable[1]
    return all(bool(tolerance.close(custom[a][both], truth[b][both], RTOL["float64"], 1e-9 * tolerance.scale_of(truth[b]) + 1e-300).all())
               for a, b in ((0, 1), (1, 0)))


def _constant_factor(c, t, comparable) -> float | None:
    """custom / truth when it is one constant at every comparable point (fitted where |truth| is not tiny)."""
    sig = comparable & (t.abs() > SIGNIFICANT * tolerance.scale_of(t))
    ratio = c[sig] / t[sig]
    if not (ratio.numel() >= 2 or (ratio.numel() == 1 and int(sig.sum()) == int(comparable.sum()))):
        return None
    median = float(ratio.median())
    fits = tolerance.close(c[comparable], median * t[comparable], 1e-5, 1e-7 * tolerance.scale_of(t) + 1e-300)
    return median if bool(fits.all()) else None


def _wrong_derivative(add, variables, j, columns, c, t, comparable, rest, judged) -> None:
    """What is wrong with one variable's finite custom gradient: a sign, zero, a factor, or some points."""
    import torch

    v = variables[j]
    factor = _constant_factor(c, t, comparable)
    suffix = f" for {v}" if len(variables) > 1 else ""
    if factor is not None and abs(factor + 1) < 1e-6:
        add("sign-flipped", "error", f"backward{suffix} has the wrong sign everywhere (custom = −truth); "
            "check the sign of the derivative (e.g. cos vs −sin) and of grad_output", variable=v)
    elif factor is not None and abs(factor) < 1e-9:
        add("returns-zero", "error", f"backward{suffix} returns 0 where the derivative is not; "
            "return grad_output · f′(x)", variable=v)
    elif factor is not None:
        shown = fraction(factor) or _num6(factor)
        add("scaled-by", "error", f"backward{suffix} is off by a constant factor: custom = {shown} × truth; "
            f"a constant is missing or extra in the derivative "
            f"(multiply by {fraction(1 / factor) or _num6(1 / factor)})",
            factor=factor, factor_text=shown, variable=v)
    else:
        err = torch.where(rest, (c - t).abs(), torch.zeros_like(t))
        order = torch.argsort(err, descending=True)[:WORST].tolist()
        worst = [{"inputs": {w: float(columns[q][i]) for q, w in enumerate(variables)},
                  "custom": float(c[i]), "truth": float(t[i]), "abs_error": float(err[i])}
                 for i in order if bool(rest[i])]
        add("wrong-at-points", "error",
            f"backward{suffix} is wrong at {int(rest.sum())} of {int(judged.sum())} points, worst at "
            f"{_where(worst[0]['inputs'])} (custom {_num6(worst[0]['custom'])}, truth {_num6(worst[0]['truth'])}); "
            "re-derive f′ there (a branch, a term or a saved value is off)", points=worst, variable=v)


def _num6(v: float) -> str:
    return num(v, 6)


def _where(inputs: dict) -> str:
    return ", ".join(f"{k}={_num6(v)}" for k, v in inputs.items())


def _points(variables, inputs, values, custom, autograd, fd, truth, source, ref, judged, oks):
    custom_l = [c.tolist() for c in custom]
    fd_l = [f.tolist() for f in fd]
    ag_l = [a.tolist() for a in autograd] if autograd is not None else None
    truth_l = [t.tolist() for t in truth]
    ref_l = [r.tolist() for r in ref] if ref is not None else None
    judged_l = [j.tolist() for j in judged]
    ok_l = [o.tolist() for o in oks]
    vals = values.tolist()
    out = []
    for i, inp in enumerate(inputs):
        grads = {}
        for j, v in enumerate(variables):
            t = truth_l[j][i]
            entry = {"custom": custom_l[j][i], "finite_difference": fd_l[j][i]}
            if ag_l is not None:
                entry["autograd"] = ag_l[j][i]
            if ref_l is not None:
                entry["reference"] = ref_l[j][i]
            errors = {m: abs(x - t) for m, x in entry.items()}
            grads[v] = Gradient(reference=entry.get("reference"), custom=custom_l[j][i],
                                autograd=entry.get("autograd"), finite_difference=fd_l[j][i], truth=t,
                                truth_source=source[j][i], abs_error=errors,
                                ok=bool(ok_l[j][i]) if judged_l[j][i] else None)
        out.append(Point(inputs=inp, value=vals[i], gradients=grads,
                         ok=all(g.ok is not False for g in grads.values())))
    return out


def _sample_indices(judged, custom, n: int, sample: int) -> list[int]:
    """Up to ``sample`` evenly spaced points where the truth and the custom gradient are finite
    (the probes compare against both; a nan point is already a finding of its own)."""
    import torch

    mask = torch.ones(n, dtype=torch.bool)
    for j, c in zip(judged, custom):
        mask &= j & torch.isfinite(c)
    good = mask.nonzero().flatten().tolist() or [i for i in range(n) if all(bool(j[i]) for j in judged)] \
        or list(range(n))
    if len(good) <= sample:
        return good
    step = len(good) / sample
    return [good[int(s * step)] for s in range(sample)]


# ---- capability probes -------------------------------------------------------------------------------


class _Probes:
    def __init__(self, run, target, columns, idx, custom, truth, ref, reference, inputs, params,
                 backward_error, add, findings, traceable):
        import torch

        self.torch = torch
        self.run, self.target, self.add, self.findings = run, target, add, findings
        self.k = len(columns)
        self.idx = idx
        ix = torch.tensor(idx, dtype=torch.long)
        self.xs = [c[ix] for c in columns]
        self.custom = [c[ix] for c in custom]
        self.truth = [t[ix] for t in truth]
        self.m = len(idx)
        self.backward_error = backward_error
        self.reference = reference
        self.inputs = [inputs[i] for i in idx]
        self.params = params
        self.traceable = traceable
        self._second = None
        # distinct upstream gradients, of both signs
        self.v = torch.tensor([(-1) ** i * (0.5 + 0.25 * i) for i in range(self.m)], dtype=torch.float64)

    def all(self) -> list[Capability]:
        probes = [self.backward, self.grad_output, self.double_backward, self.forward_ad, self.func_grad,
                  self.func_vmap, self.func_hessian, self.float32, self.non_contiguous, self.batched_grad]
        results = {}
        self.times = {}
        # backward's verdict sums up the first-derivative findings, so it is judged last
        for name, probe in [*zip(CAPABILITIES[1:], probes[1:]), (CAPABILITIES[0], probes[0])]:
            t0 = time.perf_counter()
            try:
                ok, detail = probe()
            except Exception as e:
                ok, detail = False, _one_line(e)
            self.times[name] = time.perf_counter() - t0
            results[name] = Capability(name, ok, detail)
        return [results[name] for name in CAPABILITIES]

    # -- helpers
    def leaves(self, dtype=None):
        dtype = dtype or self.torch.float64
        return [x.clone().to(dtype).requires_grad_(True) for x in self.xs]

    def tol(self, j, rtol=RTOL["float64"]):
        return rtol * 1e-2 * tolerance.scale_of(self.truth[j]) + 1e-300

    def matches_truth(self, got, j, rtol=RTOL["float64"]) -> bool:
        t = self.truth[j]
        return bool((tolerance.close(got.to(self.torch.float64), t, rtol, self.tol(j, rtol)) | ~self.torch.isfinite(t)).all())

    def setup_context_problem(self, e: Exception) -> bool:
        if "setup_context" in str(e) or (self.target.kind == "function-ctx" and "jvp" not in str(e)):
            self.add("no-setup-context", "warning",
                     f"{self.target.name} has forward(ctx, ...) and no setup_context, so torch.func (grad, vmap, "
                     "jacrev, hessian) refuses it; split it into forward(inputs...) and "
                     "setup_context(ctx, inputs, output)")
            return True
        return False

    def vmap_problem(self, e: Exception) -> bool:
        text = str(e)
        if "generate_vmap_rule" in text or "vmap staticmethod" in text:
            self.add("no-vmap-rule", "warning",
                     f"{self.target.name} has no vmap rule, so torch.func.vmap (and jacfwd/hessian, batched "
                     "gradients) refuse it; set generate_vmap_rule = True (forward of plain torch ops) or "
                     "write a vmap staticmethod")
            return True
        return False

    def jvp_problem(self, e: Exception) -> bool:
        if "jvp" in str(e):
            self.add("no-jvp", "warning",
                     f"{self.target.name} has no jvp, so forward-mode AD (torch.func.jvp, jacfwd, hessian) "
                     "fails; add a jvp staticmethod returning f′(x)·x_t")
            return True
        return False

    def explain(self, e: Exception, func: bool = True) -> str:
        """Why a probe failed; a torch.func transform on an old-style Function fails for want of setup_context."""
        if (func or "setup_context" in str(e)) and self.setup_context_problem(e):
            return "needs setup_context (old-style forward(ctx, ...))"
        if self.vmap_problem(e):
            return "no vmap rule (vmap staticmethod or generate_vmap_rule)"
        if self.jvp_problem(e):
            return "no jvp staticmethod"
        return _one_line(e)

    def first_wrong(self) -> bool:
        return any(f.severity == "error" for f in self.findings.values())

    # -- the probes
    def backward(self):
        if self.backward_error is not None:
            return False, f"raised {self.backward_error}"
        errors = [f for f in self.findings.values() if f.severity == "error"]
        if errors:
            return False, f"wrong first derivative ({', '.join(f.code for f in errors)})"
        what = "custom backward" if self.target.is_function else "autograd through the callable"
        unchecked, n = getattr(self, "unchecked", (0, 0))
        if unchecked:
            return True, (f"{what} matches the truth at every checked point ({n - unchecked} of {n}; the truth is "
                          "not finite at the others)")
        return True, f"{what} matches the truth at every point"

    def grad_output(self):
        torch = self.torch
        if self.backward_error is not None:
            return None, "skipped: backward raises"
        if not any(bool(torch.isfinite(c).any()) for c in self.custom):
            return None, "skipped: the gradient is not finite at the sample"
        if all(tolerance.scale_of(c) == 0 for c in self.custom):
            return None, "skipped: the gradient is 0 at the sample"
        leaves = self.leaves()
        out = self.run.apply(*leaves)
        got = torch.autograd.grad(out, leaves, self.v.to(out.dtype), allow_unused=True)
        got = [torch.zeros_like(x) if g is None else g.detach().to(torch.float64) for g, x in zip(got, self.xs)]
        rt = RTOL["float64"] if out.dtype == torch.float64 else RTOL["float32"]
        linear = all(bool(tolerance.close(g, self.v * c, rt, rt * 1e-2 * tolerance.scale_of(c) + 1e-300).all())
                     for g, c in zip(got, self.custom))
        if linear:
            return True, "the gradient scales with grad_output"
        ignored = all(bool(tolerance.close(g, c, rt, rt * 1e-2 * tolerance.scale_of(c) + 1e-300).all()) for g, c in zip(got, self.custom))
        if ignored:
            self.add("ignores-grad-output", "error",
                     "backward returns the local derivative f′(x) without multiplying by grad_output, so any "
                     "loss other than a plain sum gets the wrong gradient; return grad_output * f′(x)")
            return False, "the gradient does not change with grad_output"
        self.add("grad-output-misused", "error",
                 "backward is not linear in grad_output (e.g. grad_output squared, added, or broadcast wrongly); "
                 "return grad_output * f′(x)")
        return False, "the gradient is not grad_output × f′(x)"

    def second_truth(self):
        """The truth's Hessian on the sample: [i][j] tensors (None entries: unknown)."""
        if self._second is not None:
            return self._second
        torch = self.torch
        k = self.k
        if self.reference is not None:
            refs = [self.reference(inp, self.params, 2) for inp in self.inputs]
            if all(r.hessian is not None for r in refs):
                self._second = [[torch.tensor([float(r.hessian[i][j]) for r in refs], dtype=torch.float64)
                                 for j in range(k)] for i in range(k)]
                return self._second
        run = self.run

        def gradient_truth(tensors):
            if self.traceable:
                leaves = [t.clone().requires_grad_(True) for t in tensors]
                with torch.enable_grad():
                    out = run.forward_ops(*leaves)
                    gs = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
                return [torch.zeros_like(t) if g is None else g.detach().to(torch.float64)
                        for g, t in zip(gs, tensors)]

            def value(ts):
                with torch.no_grad():
                    return run.apply(*ts).to(torch.float64)
            return [_finite_difference(value, list(tensors), i) for i in range(k)]

        # d(truth gradient i)/d variable j, by Richardson differences of the gradient
        self._second = [[_finite_difference(lambda ts, i=i: gradient_truth(ts)[i], self.xs, j) for j in range(k)]
                        for i in range(k)]
        return self._second

    def second_ok(self, got) -> tuple[bool, list]:
        """got[i][j] tensors vs the truth's Hessian; returns (ok, bad sample indices)."""
        torch = self.torch
        truth = self.second_truth()
        bad = torch.zeros(self.m, dtype=torch.bool)
        for i in range(self.k):
            for j in range(self.k):
                t, g = truth[i][j], got[i][j].to(torch.float64)
                scale = max((tolerance.scale_of(truth[a][b]) for a in range(self.k) for b in range(self.k)), default=0.0)
                ok = tolerance.close(g, t, RTOL_SECOND, RTOL_SECOND * 1e-2 * scale + 1e-300) | ~torch.isfinite(t)
                bad |= ~ok
        return not bool(bad.any()), bad.nonzero().flatten().tolist()

    def double_backward(self):
        torch = self.torch
        if self.backward_error is not None:
            return None, "skipped: backward raises"
        leaves = self.leaves()
        out = self.run.apply(*leaves)
        v = torch.ones_like(out).requires_grad_(True)  # so a constant backward still has a graph
        try:
            first = torch.autograd.grad(out, leaves, v, create_graph=True, allow_unused=True)
            if any(f is None or not f.requires_grad for f in first):
                raise RuntimeError("backward's result is not recorded by autograd")
            if any("Error" in type(f.grad_fn).__name__ for f in first):
                # @once_differentiable records a node that raises only when it is reached, and
                # differentiating toward the input does not reach it: look at the node instead
                raise RuntimeError("backward is marked @once_differentiable")
            got = []
            for f in first:
                row = torch.autograd.grad(f, leaves, torch.ones_like(f), retain_graph=True, allow_unused=True)
                got.append([torch.zeros_like(x) if g is None else g.detach() for g, x in zip(row, leaves)])
        except Exception as e:
            text = _one_line(e)
            why = ("@once_differentiable" if "once_differentiable" in text
                   else "its ops are not recorded (detach, .numpy(), no_grad, or a non-differentiable op)")
            self.add("not-twice-differentiable", "warning",
                     f"a second backward through {self.target.name} fails ({why}), so the second derivative "
                     "(hessian, create_graph=True) is unavailable; compute backward from saved inputs/outputs "
                     "with torch ops, or through a second Function whose own backward is analytic",
                     reason=text)
            return False, f"second backward raises: {text}"
        ok, bad = self.second_ok(got)
        if not ok and self.first_wrong():
            return False, "second derivative differs from the truth (the first derivative is already wrong)"
        if not ok:
            shown = [self.inputs[b] for b in bad[:WORST]]
            self.add("wrong-second-derivative", "warning",
                     f"the second backward gives a wrong second derivative (e.g. at {_where(shown[0])}): backward "
                     "uses a value autograd cannot see through (an intermediate saved from forward or "
                     "setup_context); compute it in backward from saved inputs/outputs",
                     points=shown)
            return False, "reverse-over-reverse differs from the truth's second derivative"
        passed = self.gradgradcheck()
        if passed is False:
            return False, ("second derivative matches the truth but gradgradcheck fails "
                           "(backward not linear in grad_output?)")
        return True, "second derivative matches the truth" + (", gradgradcheck passes" if passed else "")

    def gradgradcheck(self) -> bool | None:
        """torch's gradgradcheck on 4 points (None: not applicable, the output is not float64)."""
        torch = self.torch
        xs = [x[:4].clone().requires_grad_(True) for x in self.xs]
        try:
            probe = self.run.apply(*xs)
            if probe.dtype != torch.float64:
                return None
            return torch_checks.passes(self.run.apply, xs, float(probe.detach().abs().max() + 1), order=2)
        except Exception:
            return False

    def forward_ad(self):
        torch = self.torch
        import torch.autograd.forward_ad as fwAD

        tangent = self.v
        for j in range(self.k):
            try:
                with fwAD.dual_level():
                    args = [fwAD.make_dual(x, tangent) if i == j else x for i, x in enumerate(self.xs)]
                    out = self.run.apply(*args)
                    t = fwAD.unpack_dual(out).tangent
            except Exception as e:
                return False, self.explain(e, func=False)
            if t is None:
                t = torch.zeros_like(self.xs[j])
            rt = RTOL["float64"] if t.dtype == torch.float64 else RTOL["float32"]
            if not self.matches_truth(t.to(torch.float64) / tangent, j, rt):
                self.add("wrong-jvp", "error", "jvp is wrong (it should be f′(x)·x_t for each input); "
                         "check it against backward's derivative")
                return False, "jvp differs from the truth"
        return True, "jvp matches the truth"

    def func_grad(self):
        torch = self.torch
        f = lambda *xs: self.run.apply(*xs).sum()  # noqa: E731
        try:
            got = torch.func.grad(f, argnums=tuple(range(self.k)))(*self.xs)
        except Exception as e:
            return False, self.explain(e)
        if all(bool((tolerance.close(g.to(torch.float64), c, 1e-12, 1e-300) | (g.isnan() & c.isnan())).all())
               or self.matches_truth(g, j) for j, (g, c) in enumerate(zip(got, self.custom))):
            return True, "torch.func.grad works and agrees with backward"
        return False, "torch.func.grad disagrees with backward and the truth"

    def func_vmap(self):
        torch = self.torch
        if self.m < 2:
            return None, "skipped: needs 2 points"
        half = self.m // 2
        batched = [x[: 2 * half].reshape(2, half) for x in self.xs]
        try:
            got = torch.func.vmap(self.run.apply)(*batched)
        except Exception as e:
            return False, self.explain(e)
        with torch.no_grad():
            want = self.run.apply(*[b.reshape(-1) for b in batched]).reshape(2, half)
        if got.shape == want.shape and bool(tolerance.close(got, want, 1e-12, 1e-300).all()):
            return True, "vmap gives the unbatched values"
        return False, "vmap's values differ from the unbatched call"

    def func_hessian(self):
        torch = self.torch
        f = lambda *xs: self.run.apply(*xs).sum()  # noqa: E731
        try:
            h = torch.func.hessian(f, argnums=tuple(range(self.k)))(*self.xs)
        except Exception as e:
            return False, self.explain(e)
        got = [[torch.diagonal(h[i][j]) for j in range(self.k)] for i in range(self.k)]
        ok, _ = self.second_ok(got)
        if ok:
            return True, "forward-over-reverse Hessian matches the truth"
        return False, "torch.func.hessian differs from the truth's second derivative"

    def float32(self):
        torch = self.torch
        leaves = self.leaves(torch.float32)
        try:
            out = self.run.apply(*leaves)
            grads = torch.autograd.grad(out, leaves, torch.ones_like(out), allow_unused=True)
        except Exception as e:
            return False, f"float32 input raises {_one_line(e)}"
        if out.dtype != torch.float32:
            got = str(out.dtype).removeprefix("torch.")
            self.add("dtype-changed", "warning", f"forward returns {got} for float32 input; compute in the "
                     "input's dtype (no .double()/dtype=... in forward or backward)", dtype=got)
            return False, f"returns {got} for float32 input"
        for j, g in enumerate(grads):
            if g is None or g.dtype != torch.float32:
                return False, "backward changes the dtype"
            # judged against the float64 backward, so a wrong derivative is not counted twice
            c = self.custom[j]
            if not bool((tolerance.close(g.to(torch.float64), c, RTOL["float32"], RTOL["float32"] * 1e-2 * tolerance.scale_of(c) + 1e-300)
                         | ~torch.isfinite(c)).all()):
                return False, "float32 gradient is further from the float64 one than float32 allows"
        return True, "dtype kept; gradient within float32's precision of the float64 one"

    def non_contiguous(self):
        torch = self.torch
        leaves = []
        for x in self.xs:
            buffer = torch.zeros(2 * self.m, dtype=torch.float64)
            buffer[::2] = x
            leaves.append(buffer[::2].detach().requires_grad_(True))  # stride 2: not contiguous
        try:
            out = self.run.apply(*leaves)
            grads = torch.autograd.grad(out, leaves, torch.ones_like(out), allow_unused=True)
        except Exception as e:
            self.add("fails-non-contiguous", "warning",
                     f"{self.target.name} raises on non-contiguous input ({_one_line(e)}); use .reshape, not .view, "
                     "or call .contiguous()")
            return False, f"raises {_one_line(e)}"
        with torch.no_grad():
            want = self.run.apply(*[x.clone() for x in self.xs])
        same = bool(tolerance.close(out.detach(), want, 1e-12, 1e-300).all()) and all(
            g is not None and bool((tolerance.close(g.to(torch.float64), c, 1e-12, 1e-300) | (g.isnan() & c.isnan())).all())
            for g, c in zip(grads, self.custom))
        if not same:
            self.add("wrong-non-contiguous", "error",
                     f"{self.target.name} gives different numbers for non-contiguous input (strided memory read "
                     "as if contiguous?); index through the tensor, not its storage")
            return False, "different values or gradients for a strided input"
        return True, "strided input gives the same values and gradients"

    def batched_grad(self):
        torch = self.torch
        if self.backward_error is not None:
            return None, "skipped: backward raises"
        leaves = self.leaves()
        out = self.run.apply(*leaves)
        vs = torch.stack([torch.ones_like(out), self.v.to(out.dtype)])
        try:
            got = torch.autograd.grad(out, leaves, vs, is_grads_batched=True, allow_unused=True, retain_graph=True)
        except Exception as e:
            reason = self.explain(e, func=False)
            if "no-vmap-rule" not in self.findings and "no-setup-context" not in self.findings:
                self.add("no-batched-grad", "warning",
                         f"batched gradients (is_grads_batched=True, jacrev) fail: {_one_line(e)}; "
                         "backward must use vmappable torch ops (no .item(), data-dependent Python control flow)")
            return False, reason
        rows = []
        for b in range(2):
            single = torch.autograd.grad(out, leaves, vs[b], retain_graph=True, allow_unused=True)
            rows.append(single)
        same = all(g is not None and bool((tolerance.close(g[b], rows[b][j], 1e-12, 1e-300)
                                           | (g[b].isnan() & rows[b][j].isnan())).all())
                   for j, g in enumerate(got) for b in range(2) if rows[b][j] is not None)
        if same:
            return True, "batched grad_outputs give the per-row gradients"
        return False, "batched gradients differ from one-at-a-time ones"
