"""A gradient that is the truth times a constant: −1 (the sign), 1/numel (a mean's gradient where
forward takes a sum, or the reverse), the batch size, a Python parameter's value.

The factor is estimated by least squares over the elements where the truth stands clear of its
tolerance, then the candidates that MEAN something (the counts of the inputs and outputs, the
parameters), the nearest simple fraction and the estimate itself are tried in that order: one is
named only when factor × truth is within tol of custom at every known element, so a factor that
varies from element to element is never named.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from torch import Tensor

from backpropcli.doctor.codes import phrase
from backpropcli.doctor.conditions import params
from backpropcli.doctor.results import Finding

if TYPE_CHECKING:
    from backpropcli.doctor.classify import Case

NEAR = 1e-3  # a candidate is tried only when within this relative distance of the estimate
MAX_DENOMINATOR = 64  # "3/4" is a simple fraction; "17/23" is not said
MAX_NUMERATOR = 4096


def _counts(case: Case) -> list[tuple[int, dict[str, Any]]]:
    """(count, meaning) for the counts a factor is likely to be, the likeliest meaning first: the
    elements each output averages, an input's numel, its batch size, the size of another dim."""
    tensors = {n: v for n, v in case.inputs.items() if isinstance(v, Tensor) and v.is_floating_point()}
    outs = [o for o in case.outputs if isinstance(o, Tensor) and o.numel() > 0]
    found: list[tuple[int, dict[str, Any]]] = []
    for v in tensors.values():
        for o in outs:
            if v.numel() % o.numel() == 0:
                found.append((v.numel() // o.numel(), {"meaning_kind": "ratio"}))
    for n, v in tensors.items():
        found.append((v.numel(), {"meaning_kind": "numel", "of": n}))
    for n, v in tensors.items():
        if v.ndim >= 2:
            found.append((int(v.shape[0]), {"meaning_kind": "batch", "of": n}))
            found += [(int(s), {"meaning_kind": "dim", "of": n, "dim": d})
                      for d, s in enumerate(v.shape) if d > 0]
    return [(k, m) for k, m in found if k > 1]


def _candidates(case: Case, estimate: float) -> list[tuple[float, dict[str, Any]]]:
    """(factor, extra) to try, in the order they are preferred."""
    found: list[tuple[float, dict[str, Any]]] = [(-1.0, {"sign": True})]
    for count, meaning in _counts(case):
        base = {**meaning, "count": count}
        found.append((float(count), {**base, "fix": "scale.fix.too-big-count"}))
        found.append((1.0 / count, {**base, "fix": "scale.fix.too-small-count"}))
    for pname, value in params(case.inputs).items():
        if value not in (0.0, 1.0, -1.0):
            found.append((value, {"meaning_kind": "param", "param": pname, "fix": "scale.fix.param"}))
            found.append((1.0 / value, {"meaning_kind": "param-inverse", "param": pname,
                                        "fix": "scale.fix.param-inverse"}))
    simple = Fraction(estimate).limit_denominator(MAX_DENOMINATOR)
    if simple != 0 and abs(simple.numerator) <= MAX_NUMERATOR:
        found.append((float(simple), {}))
    found.append((estimate, {}))
    return [(f, e) for f, e in found if f != 1.0 and abs(f - estimate) <= NEAR * abs(estimate)]


def _fraction_text(factor: float) -> str | None:
    """'1/64', '-3/4', '2' when the factor is exactly a simple fraction (or a count's inverse)."""
    frac = Fraction(factor).limit_denominator(1 << 20)
    if float(frac) != factor or abs(frac.numerator) > (1 << 20):
        return None
    return str(frac)


def _estimate(case: Case, c: Tensor) -> float | None:
    """The least-squares factor ⟨c, t⟩ / ⟨t, t⟩ over the known elements clear of their tolerance."""
    use = case.known & (case.truth.abs() > case.tol)
    if not use.any():
        return None
    t, cu = case.truth[use], c[use]
    f = float((cu * t).sum() / (t * t).sum())
    return f if math.isfinite(f) and f != 0.0 else None


def scaled(case: Case, c: Tensor) -> Finding | None:
    """sign-flipped or scaled-by, when custom = factor × truth at every known element."""
    estimate = _estimate(case, c)
    if estimate is None:
        return None
    for factor, extra in _candidates(case, estimate):
        if not case.fits(c, factor * case.truth):
            continue
        if extra.get("sign"):
            return case.finding("sign-flipped", factor=-1.0)
        return case.finding("scaled-by", **_scale_extra(factor, extra))
    return None


def _scale_extra(factor: float, extra: dict[str, Any]) -> dict[str, Any]:
    fix = extra.pop("fix", None)
    kind = extra.get("meaning_kind")
    out: dict[str, Any] = {"factor": factor, **extra}
    text = _fraction_text(factor)
    if text is not None:
        out["factor_text"] = text
    fields = {k: extra[k] for k in ("count", "of", "dim", "param") if k in extra}
    out["meaning"] = phrase(f"scale.meaning.{kind}", **fields) if kind else ""
    out["fix_hint"] = phrase(fix, **fields) if fix else phrase("scale.fix.plain")
    return out
