"""`backprop check`: the doctor of a user's own autograd.Function, as a pipeline.

truth → the custom VJP (raw gradients recorded) → the dot-product test → per input, the custom
VJP against the true VJP element by element, mismatches named by classify → is it elementwise
→ the capability probes → a Diagnosis. It never prints and never words a number.

The main comparison runs at float64 leaves (the truth is float64); ``dtype`` is the dtype of the
custom gradient's computation, judged against the float64 truth with that dtype's tolerance and
the k× rule (localise.py). Severity "error" means a wrong first derivative; the Diagnosis is ok
iff there is no error finding and something was checked.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

from backpropcli.doctor import elementwise, localise, products, tidy
from backpropcli.doctor import truth as truths
from backpropcli.doctor.results import Capability, Cost, Diagnosis, Finding, InputReport
from backpropcli.doctor.subject import Subject
from backpropcli.errors import InputError

# the doctor's own random directions; not 0 (nor another seed users type): make_inputs drawing
# x = randn(256, 256) under seed 0 made the cotangent equal to x, so a transposed grad_W,
# xᵀv = xᵀx, was symmetric and matched the truth vᵀx on every element
SEED = 918_273_645


def diagnose(subject: Subject, *, reference: Callable | None = None, dtype: str | None = None,
             device: str | None = None, capabilities: list[str] | None = None, compile: bool = False,
             max_memory: int | None = None, reference_label: str | None = None) -> Diagnosis:
    """Check the subject's custom gradient against the truth, probe its capabilities."""
    import torch

    dtype = dtype or "float64"
    device = _device(device)
    if device is not None:
        subject = _on(subject, device)
    cost = Cost()
    raw: list = []
    run = products.counted(subject, cost, raw)
    generator = torch.Generator().manual_seed(SEED)
    clock = _Clock(cost)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        leaves = run.leaves(torch.float64, device)
        outputs = _outputs(run, leaves)
        clock.lap("forward")
        truth = truths.establish(run, leaves, outputs, reference=reference, seed=SEED)
        differs = _value_differs(run, reference, leaves, outputs) if reference is not None else []
        clock.lap("truth")
        first = _first_derivative(run, raw, truth, leaves, outputs, generator, dtype, device)
        clock.lap("compare")
        is_elementwise = elementwise.detect(truth, leaves, outputs, first.cotangents, first.truth, generator)
        clock.lap("elementwise")
    # the user's code has run every way it is called above; what torch itself warns about while
    # the probes transform it (torch.func, torch.jit, compile) is not the user's to fix
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        caps, probe_findings = _probes(subject, run, truth, leaves, first, cost, capabilities,
                                       {"dtype": dtype, "device": device, "compile": compile,
                                        "max_memory": max_memory, "elementwise": is_elementwise,
                                        "reference": reference})
        clock.lap("probes")
    # tidy says each (code, input, output) once: the first comparison and a probe may name one bug
    findings = tidy.tidy((differs + _dtype_changed(run, outputs, first.custom, dtype)
                               + _explained(first, probe_findings) + probe_findings), first.reports)
    checked = any(r.ok is not None for r in first.reports)
    if not checked:
        findings.append(Finding("nothing-checked", extra={"why": "no differentiable input had a finite truth"}))
    ok = checked and not any(f.severity == "error" for f in findings)
    reports = first.reports + [InputReport(i.name, i.shape, _dtype_name(i.value), False, None)
                               for i in subject.inputs if not i.differentiable]
    order = {n: k for k, n in enumerate(subject.names)}
    reports.sort(key=lambda r: order[r.name])
    return Diagnosis(subject.name, subject.kind, truth.source, ok, reports, caps, findings, cost,
                     elementwise=is_elementwise, dtype=dtype, warnings=_warnings(caught),
                     reference=reference_label, details={"truth_sources": truth.sources, "dot_test": first.dot,
                                                         **({"worst": first.worst} if first.worst else {})})


def _device(device: str | None) -> str | None:
    """None (the inputs' own device) for none or cpu; auto: cuda where there is one."""
    import torch

    if device in (None, "cpu"):
        return None
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: this machine has no CUDA device (torch.cuda.is_available() is False)")
    return device


def _on(subject: Subject, device: str) -> Subject:
    """The subject with every tensor input moved to the device."""
    import dataclasses

    import torch

    moved = tuple(dataclasses.replace(i, value=i.value.to(device)) if isinstance(i.value, torch.Tensor) else i
                  for i in subject.inputs)
    return dataclasses.replace(subject, inputs=moved)


class _Clock:
    def __init__(self, cost: Cost):
        self.cost = cost
        self.start = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.cost.seconds[stage] = now - self.start
        self.start = now


def _outputs(run: Subject, leaves: dict[str, Any]) -> tuple:
    import torch

    try:
        outputs = products.outputs_at(run, leaves)
    except Exception as e:
        from backpropcli.doctor.sandbox import raised_at

        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InputError(f"{run.name} raised {type(e).__name__}: {message} when called on the inputs"
                         f"{raised_at(e)}") from None
    if not run.differentiable_outputs(outputs):
        kinds = ", ".join(type(o).__name__ if not isinstance(o, torch.Tensor) else str(o.dtype) for o in outputs)
        raise InputError(f"no output of {run.name} is differentiable (it returned {kinds}): "
                         "nothing for a gradient to flow back through")
    return outputs


class _First:
    """The first-derivative comparison's products, for the probes and the elementwise test."""

    def __init__(self, cotangents, truth_vjp, findings, reports, dot, ok, custom=None, outputs=()):
        self.cotangents = cotangents
        self.outputs: tuple = outputs
        self.worst: dict[str, Any] | None = None  # the pair a figure draws (present/figures/check.py)
        self.custom: dict[str, Any] = custom or {}
        self.truth = truth_vjp
        self.findings: list[Finding] = findings
        self.reports: list[InputReport] = reports
        self.dot = dot
        self.ok: dict[str, bool] = ok


def _first_derivative(run, raw, truth, leaves, outputs, generator, dtype, device) -> _First:
    """The custom VJP for one random cotangent against the truth's, input by input."""
    import torch

    v = products.random_cotangents(outputs, generator)
    # judged at the least precise of the custom computation's dtype and forward's outputs' dtype
    judged = max((dtype, truths.precision(outputs)), key=["float64", "float32", "bfloat16", "float16"].index)
    low = getattr(torch, dtype)
    custom_leaves = run.leaves(low, device) if dtype != "float64" else leaves
    v_custom = tuple(None if c is None else c.to(low) for c in v)
    custom = products.custom_vjp(run, raw, custom_leaves, v_custom)
    if custom.error is not None and custom.raised_in_backward:
        return _raised(run, custom.error, leaves, v, dtype)
    if custom.counts is not None:
        returned, expected = custom.counts
        return _refused(Finding("wrong-number-of-gradients", extra={
            "got": returned, "expected": expected, "s_got": "s" * (returned != 1),
            "s_expected": "s" * (expected != 1),
            "names": ", ".join(run.names)}), leaves, v, dtype)
    t = truth.vjp(v)
    magnitude = truth.vjp(tuple(None if c is None else c.abs() for c in v)) \
        if any(s != truths.FINITE for s in truth.sources.values()) else {}
    reference_error = _reference_error(truth, run, leaves, v, t, dtype, device)
    dot = products.dot_test(run, raw, truth, leaves, outputs, generator)
    terms = max((o.numel() for o in outputs if isinstance(o, torch.Tensor)), default=1)
    values = {i.name: (leaves[i.name].detach() if i.differentiable else i.value) for i in run.inputs}
    detached = tuple(o.detach() if isinstance(o, torch.Tensor) else o for o in outputs)
    findings, reports, ok = _doubted(truth, t), [], {}
    worst: tuple[float, dict[str, Any]] | None = None
    for n in leaves:
        tol = localise.allowed(t[n], magnitude.get(n) if truth.sources[n] != truths.FINITE else None, judged,
                               terms, reference_error.get(n))
        others = {m: (custom.grads[m], t[m]) for m in leaves if m != n}
        got, report = localise.compare(n, custom.grads[n], t[n], tol, truth.known.get(n), classify_inputs=values,
                                       cotangents=v, outputs=detached, others=others, dtype=dtype)
        if not got and dot.get(n) is False and report.ok:
            # right on every element computed (a sample, by differences) but the dot-product test
            # disagrees: wrong elsewhere, not localised
            got = [Finding("wrong-gradient", n, extra={"max_abs_error": None, "worst_index": None,
                                                       "seen_by": "dot-product test"})]
            report.ok, report.pattern = False, "wrong-gradient"
        findings += got
        reports.append(report)
        ok[n] = bool(report.ok)
        far = _relative_distance(custom.grads[n], t[n])
        if far is not None and (worst is None or far > worst[0]):
            worst = (far, {"input": n, "output": None, "truth": t[n], "tol": tol, "product": "vjp",
                           "custom": torch.zeros_like(t[n]) if custom.grads[n] is None else custom.grads[n]})
    done = _First(v, t, findings, reports, dot, ok, custom.grads, outputs)
    done.worst = worst[1] if worst else None
    return done


def _relative_distance(custom, truth) -> float | None:
    """max |custom − truth| over the known elements, relative to the truth's scale; None when the
    two cannot be drawn side by side (a wrong shape, nothing known)."""
    import torch

    c = torch.zeros_like(truth) if custom is None else custom
    if tuple(c.shape) != tuple(truth.shape):
        return None
    known = torch.isfinite(truth)
    if not bool(known.any()):
        return None
    err = torch.nan_to_num((c.to(truth.dtype) - truth).abs(), nan=float("inf"))[known]
    return float(err.max()) / max(float(truth[known].abs().max()), 1e-300)


GRAD_OUTPUT = ("ignores-grad-output", "grad-output-misused")
UNSPECIFIC = ("wrong-gradient", "wrong-at-points")  # what a gradient ignoring grad_output looks like for one v


def _explained(first: _First, probe_findings: list[Finding]) -> list[Finding]:
    """The first comparison's errors, less those the grad-output probe explains: a backward that
    ignores (or misuses) grad_output is wrong for a random cotangent because of that, and the
    probe's finding says so more precisely than a pattern over one cotangent could."""
    explained = {f.input: f.code for f in probe_findings if f.code in GRAD_OUTPUT}
    for r in first.reports:
        if r.name in explained:
            r.pattern = explained[r.name]
    return [f for f in first.findings if not (f.input in explained and f.code in UNSPECIFIC)]


def _dtype_changed(run, outputs, custom: dict[str, Any], dtype: str) -> list[Finding]:
    """A warning for each output, and each gradient, that comes back in another dtype than the
    inputs it was computed from."""
    import torch

    names = run.output_names(outputs)
    found = []
    for k in run.differentiable_outputs(outputs):
        got = str(outputs[k].dtype).removeprefix("torch.")
        if got != "float64":
            found.append(Finding("dtype-changed", output=names[k],
                                 extra={"what": f"the output {names[k]}", "got": got, "want": "float64"}))
    for n, g in custom.items():
        if isinstance(g, torch.Tensor) and g.is_floating_point() and str(g.dtype).removeprefix("torch.") != dtype:
            found.append(Finding("dtype-changed", input=n, extra={
                "what": f"the gradient for {n}", "got": str(g.dtype).removeprefix("torch."), "want": dtype}))
    return found


def _value_differs(run, reference, leaves, outputs) -> list[Finding]:
    """A warning when forward's value is not the reference's: the gradients are judged against
    the reference all the same, but the two are then not the same function."""
    import torch

    try:
        with torch.no_grad():
            theirs = truths.call_as(run, reference, leaves)
    except Exception as e:
        raise InputError(f"the reference raised {type(e).__name__}: {e}") from None
    worst = 0.0
    for k in Subject.differentiable_outputs(outputs):
        mine, ref = outputs[k].detach(), theirs[k].detach().to(outputs[k].dtype)
        if tuple(mine.shape) != tuple(ref.shape):
            raise InputError(f"the reference's output has shape {tuple(ref.shape)}, the Function's "
                             f"{tuple(mine.shape)}")
        both = torch.isfinite(mine) & torch.isfinite(ref)
        gap = (mine - ref).abs()[both]
        allowed = 1e-6 * (ref.abs()[both] + float(ref.abs()[both].max()) * 1e-3) if gap.numel() else gap
        if gap.numel() and not bool((gap <= allowed).all()):
            worst = max(worst, float(gap.max()))
    return [Finding("value-differs", extra={"max_abs_difference": worst})] if worst else []


def _reference_error(truth, run, leaves, v, t, dtype, device) -> dict[str, Any]:
    """Below float64: |autograd through forward (or the reference) in dtype − the truth|, the
    yardstick of the k× rule. Empty when there is no traceable forward or in float64."""
    import torch

    if dtype == "float64" or truth.differentiable_forward is None:
        return {}
    low = getattr(torch, dtype)
    fresh = run.leaves(low, device)
    try:
        outs = truth.differentiable_forward(fresh)
        pairs = [(o, c) for o, c in zip(outs, v) if c is not None and o.requires_grad]
        grads = torch.autograd.grad([o for o, _ in pairs], list(fresh.values()), [c.to(o.dtype) for o, c in pairs],
                                    allow_unused=True)
    except Exception:
        return {}
    return {n: (g.to(torch.float64) - t[n]).abs() for n, g in zip(fresh, grads) if g is not None}


def _raised(run, error: BaseException, leaves, v, dtype) -> _First:
    from backpropcli.doctor.sandbox import raised_at

    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    finding = Finding("backward-raises", extra={"error": f"{type(error).__name__}: {message}",
                                                "line": raised_at(error)})
    return _refused(finding, leaves, v, dtype)


def _doubted(truth, t: dict[str, Any]) -> list[Finding]:
    """Said, not hidden: the elements left unjudged because autograd through forward and the
    finite differences disagree there (truth.uncertain_where_they_disagree)."""
    import torch

    out = []
    for n in sorted(truth.doubted):
        known = truth.known.get(n)
        unjudged = torch.isnan(t[n]) if known is None else torch.isnan(t[n]) & known
        if bool(unjudged.any()):
            out.append(Finding("truth-uncertain", input=n, extra={
                "count": int(unjudged.sum()),
                "why": "autograd through forward and the finite differences disagree there (a kink, a step "
                       "too large for a tiny element, or a forward that detaches); give --reference to judge them"}))
    return out


def _refused(finding: Finding, leaves, v, dtype) -> _First:
    """A backward that gives nothing to compare (it raised, or autograd refused what it returned):
    one finding for the whole Function, every input wrong, no probe run."""
    reports = [InputReport(n, tuple(x.shape), dtype, True, False, pattern=finding.code) for n, x in leaves.items()]
    return _First(v, {}, [finding], reports, {}, dict.fromkeys(leaves, False))


def _probes(original, run, truth, leaves, first: _First, cost, wanted,
            options) -> tuple[list[Capability], list[Finding]]:
    """Every capability probe in the registry's order; an exception of a checker is a row with ok
    None, never a crash. No probe runs after backward raised (there is nothing to compare)."""
    import dataclasses

    from backpropcli.doctor.probes import ProbeContext, ProbeResult, registry

    if any(f.code in ("backward-raises", "wrong-number-of-gradients") for f in first.findings):
        return [], []

    # the probes count their own calls in ``cost``: they get the recording subclass uncounted
    plain = products.counted(dataclasses.replace(original, dirty=run.dirty, overwrites=run.overwrites), Cost(), [])
    precision = truths.precision(first.outputs)  # a float32 output's products carry float32's rounding
    context = ProbeContext(plain, truth, leaves, lambda g, name: localise.allowed(g, None, precision, 1), first.ok,
                           cost, options)
    results = []
    for probe in registry.PROBES:
        if wanted is not None and probe.NAME not in wanted:
            continue
        try:
            results.append(probe.run(context))
        except Exception as e:  # the checker's own failure is a row with ok None, never a crash
            failed = f"the check itself failed: {type(e).__name__}: {e}"
            results.append(ProbeResult(Capability(probe.NAME, None, failed)))
    return registry.merge(results)


def _dtype_name(value) -> str:
    dtype = getattr(value, "dtype", None)
    return str(dtype).removeprefix("torch.") if dtype is not None else type(value).__name__


def _warnings(caught) -> list[str]:
    seen: list[str] = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in seen:
            seen.append(text)
    return seen
