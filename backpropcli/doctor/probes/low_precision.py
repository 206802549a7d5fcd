"""low-precision: in float32/bfloat16/float16 the custom gradient is as good as autograd's own.

Fused kernels often have no float64, and a low-precision gradient is never equal to the truth.
The rule (FlashAttention's tests'): with the inputs rounded to the dtype and one random
cotangent, the custom gradient's largest error against the float64 truth at the rounded point
may be at most K times the largest error of autograd through forward's own ops in that dtype
(the same computation, done by PyTorch), and never less than K units of the dtype's rounding at
the truth's largest element. Beyond it: low-precision-error for that input (an error). An output
or gradient that comes back in another dtype is a warning (dtype-changed).
Cost: 2 forward and 2 backward calls (one for the Function, one for the reference).
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import call, cotangents, device, one_line, row, seeded, vjp
from backpropcli.doctor.results import Finding
from backpropcli.doctor.subject import as_tuple

NAME = "low-precision"
K = 3  # FlashAttention's tests allow 2–3×; an integer, so it reads "3×" with no float formatting


def _error(got: torch.Tensor | None, truth: torch.Tensor) -> float:
    if got is None or tuple(got.shape) != tuple(truth.shape):
        return float("inf")
    known = torch.isfinite(truth)
    d = (got.detach().to(torch.float64) - truth)[known].abs()
    return float(d.max()) if d.numel() else 0.0


def _reference(ctx: ProbeContext, dtype: torch.dtype, cots: tuple):
    """(gradients, what they are) of the same computation by autograd in ``dtype``; None when
    forward's ops are not traceable and the truth has no differentiable forward."""
    tries = []
    if ctx.subject.forward is not None:
        tries.append(("autograd through forward",
                      lambda lv: ctx.subject.call_forward(lv, dtype=dtype, device=device(ctx))))
    if ctx.truth.differentiable_forward is not None:
        forward = ctx.truth.differentiable_forward
        tries.append((f"autograd through the {ctx.truth.source}", lambda lv: as_tuple(forward(lv))))
    for what, f in tries:
        leaves = ctx.subject.leaves(dtype=dtype, values={n: v.detach() for n, v in ctx.leaves.items()})
        try:
            ctx.cost.forward_calls += 1
            with seeded():
                outputs = f(leaves)
            return vjp(ctx, leaves, outputs, cots), what
        except Exception:
            continue
    return None, "no reference in this dtype"


def _truth_at(ctx: ProbeContext, dtype: torch.dtype, cots64: tuple) -> dict:
    """The float64 truth at the inputs rounded to ``dtype`` (both gradients see rounded inputs)."""
    forward = ctx.truth.differentiable_forward
    if forward is None:
        return ctx.truth.vjp(cots64)
    rounded = {n: v.detach().to(dtype).to(torch.float64) for n, v in ctx.leaves.items()}
    leaves = ctx.subject.leaves(values=rounded)
    outputs = as_tuple(forward(leaves))
    return {n: g.detach() for n, g in vjp(ctx, leaves, outputs, cots64).items()}


def run(ctx: ProbeContext) -> ProbeResult:
    name = ctx.options.get("dtype") or "float32"
    if name == "float64":
        return row(NAME, None, "float64 is the main comparison's dtype", "")
    dtype = getattr(torch, name)
    compared = f"the float64 truth, relative to autograd's own error in {name} (at most {K}×)"
    leaves = ctx.subject.leaves(dtype=dtype, values={n: v.detach() for n, v in ctx.leaves.items()})
    try:
        outputs = call(ctx, leaves, dtype=dtype)
        cots = cotangents(outputs, 151)
        custom = vjp(ctx, leaves, outputs, cots)
    except Exception as e:
        return row(NAME, False, f"raises in {name}: {one_line(e)}", compared)
    findings = _dtypes(name, dtype, outputs, custom)
    cots64 = tuple(None if c is None else c.to(torch.float64) for c in cots)
    truth = _truth_at(ctx, dtype, cots64)
    reference, what = _reference(ctx, dtype, cots)
    if reference is None:
        return row(NAME, None, f"{name}: ran, but there is no computation in {name} to judge its error "
                   "against (forward is not traceable)", "nothing: it only ran", findings)
    eps = torch.finfo(dtype).eps
    worst = []
    for n in ctx.subject.differentiable:
        t = truth[n].detach().to(torch.float64)
        top = float(t[torch.isfinite(t)].abs().max()) if bool(torch.isfinite(t).any()) else 0.0
        own = _error(custom[n], t)
        theirs = _error(reference[n], t)
        allowed = K * max(theirs, eps * top)
        if own > allowed and ctx.first_ok.get(n, True):
            findings.append(Finding("low-precision-error", input=n, extra={
                "dtype": name, "ratio": own / max(theirs, eps * top, 1e-300), "k": K, "error": own,
                "reference_error": theirs, "reference": what}))
            worst.append(n)
    if worst:
        return row(NAME, False, f"{name}: the gradient for {', '.join(worst)} is less accurate than {what}",
                   compared, findings)
    return row(NAME, True, f"{name}: as accurate as {what} (within {K}×)", compared, findings)


def _dtypes(name: str, dtype: torch.dtype, outputs: tuple, custom: dict) -> list[Finding]:
    found = []
    for o in outputs:
        if isinstance(o, torch.Tensor) and o.is_floating_point() and o.dtype != dtype:
            found.append(Finding("dtype-changed", extra={"what": "forward's output", "got": str(o.dtype)[6:],
                                                         "want": name}))
            break
    for n, g in custom.items():
        if g.dtype != dtype:
            found.append(Finding("dtype-changed", input=n, extra={"what": f"the gradient for {n}",
                                                                  "got": str(g.dtype)[6:], "want": name}))
    return found

