"""Where and how a custom gradient is wrong: the full custom VJP against the true VJP, element by
element, with a per-element tolerance; the wrong elements go to classify for a name.

The tolerance of element i (dtype d, the truth t = Jᵀv, m = Jᵀ|v| — the same product with the
cotangent's magnitudes, so that a truth that is small by cancellation of large terms is allowed
the rounding those terms carry):

    tol_i = rtol_d·(|t_i| + |m_i|) + S·(rtol_d/1000 + 8·u_d·√K)        S = max(max|t|, max|m|)

K is the number of elements of the largest output (how many terms a sum in backward may
add, each rounded once), u_d the dtype's unit roundoff, rtol_d core/tolerance's numerical rtol
(1e-6 in float64). The S term is an absolute floor at the scale of the whole gradient: a wrong
element is wrong at that scale, a correct one computed in another order differs far below it.
Below float64, the error of the same computation done by autograd (or the reference) in that
dtype, times K_RULE, is allowed too (the FlashAttention tests' rule).
"""

from __future__ import annotations

import math
from typing import Any

from backpropcli.core import tolerance as tolerances
from backpropcli.doctor import classify
from backpropcli.doctor.results import Finding, InputReport

K_RULE = 3  # a low-precision gradient may be this many times as far off as the plain-torch one


def allowed(truth, magnitude, dtype: str, terms: int, reference_error=None):
    """Per-element allowed |custom − truth| (see the module docstring)."""
    import torch

    rtol = tolerances.rtol(dtype, 1, "numerical")
    u = tolerances.limits(dtype)[0]
    t = torch.nan_to_num(truth.abs(), nan=0.0)
    m = torch.zeros_like(t) if magnitude is None else torch.nan_to_num(magnitude.abs(), nan=0.0)
    scale = max(float(t.max()) if t.numel() else 0.0, float(m.max()) if m.numel() else 0.0)
    tol = rtol * (t + m) + scale * (rtol / 1000 + 8 * u * math.sqrt(max(terms, 1))) + tolerances.limits(dtype)[1]
    if reference_error is not None and reference_error.numel():
        tol = tol + K_RULE * float(torch.nan_to_num(reference_error, nan=0.0).max())
    return tol


def compare(name: str, custom, truth, tol, known, *, classify_inputs: dict[str, Any], cotangents: tuple,
            outputs: tuple, others: dict[str, tuple], dtype: str) -> tuple[list[Finding], InputReport]:
    """Findings for one input (from classify) and its row of the per-input table."""
    import torch

    findings = _classify(name, custom, truth, tol, inputs=classify_inputs, cotangents=cotangents,
                         outputs=outputs, others=others, known=known)
    shape = tuple(truth.shape)
    report = InputReport(name, shape, dtype, True, not any(f.severity == "error" for f in findings),
                         pattern=_pattern(findings, name))
    c = torch.zeros_like(truth) if custom is None else custom
    if tuple(c.shape) != shape:
        return findings, report
    mask = torch.isfinite(truth) if known is None else (known & torch.isfinite(truth))
    if not bool(mask.any()):
        report.ok = None if report.ok else report.ok  # no element has a truth: not checked
        return findings, report
    err = (c.to(truth.dtype) - truth).abs()
    err = torch.where(mask, torch.nan_to_num(err, nan=math.inf), torch.zeros_like(err))
    report.max_abs_error = float(err.max())
    nonzero = mask & (truth != 0)
    if bool(nonzero.any()):
        report.max_rel_error = float((err[nonzero] / truth[nonzero].abs()).max())
    flat = int(torch.argmax(err.reshape(-1))) if err.numel() else 0  # the element of max abs error
    report.worst_index = tuple(int(i) for i in _unravel(flat, shape))
    return findings, report


def _unravel(flat: int, shape: tuple[int, ...]) -> list[int]:
    out = []
    for size in reversed(shape):
        out.append(flat % size)
        flat //= size
    return list(reversed(out))


def _classify(name, custom, truth, tol, **kw) -> list[Finding]:
    return list(classify.classify(name, custom, truth, tol, **kw))


def _pattern(findings: list[Finding], name: str) -> str | None:
    return classify.pattern_of(findings, name)
