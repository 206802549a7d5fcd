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
MIN_SUPPORT = 3  # elements clear of their tolerance before an arbitrary factor is named
PARAM_DENOMINATOR = 16  # a parameter 0.75 reads as 3/4, but 1/2.7 as a number, not 10/27
MIN_COUNT = 4  # a factor 2 or 3 is a constant of the maths far more often than a dim's size


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
    return [(k, m) for k, m in found if k >= MIN_COUNT]


def _sqrt_dims(case: Case) -> list[tuple[float, Fraction | None, dict[str, Any]]]:
    """√d and 1/√d for each tensor input's last dim d: attention's 1/√d scale, left out of
    backward or applied twice."""
    found: list[tuple[float, Fraction | None, dict[str, Any]]] = []
    for n, v in case.inputs.items():
        # √d itself at least MIN_COUNT: √4 = 2 would explain any doubled gradient by a coincidence
        if not (isinstance(v, Tensor) and v.is_floating_point() and v.ndim >= 2 and v.shape[-1] >= MIN_COUNT**2):
            continue
        d = int(v.shape[-1])
        root = math.isqrt(d)
        exact = root * root == d
        base = {"meaning_kind": "sqrt-dim", "of": n, "count": d}
        found.append((math.sqrt(d), Fraction(root) if exact else None, {**base, "fix": "scale.fix.sqrt-too-big"}))
        found.append((1 / math.sqrt(d), Fraction(1, root) if exact else None,
                      {**base, "fix": "scale.fix.sqrt-too-small"}))
    return found


def _candidates(case: Case, estimate: float, support: int) -> list[tuple[float, Fraction | None, dict[str, Any]]]:
    """(factor, the factor as a fraction when it is one, extra) to try, the preferred first;
    ``support`` is the number of elements the estimate rests on."""
    found: list[tuple[float, Fraction | None, dict[str, Any]]] = [(-1.0, Fraction(-1), {"sign": True})]
    for count, meaning in _counts(case):
        base = {**meaning, "count": count}
        found.append((float(count), Fraction(count), {**base, "fix": "scale.fix.too-big-count"}))
        found.append((1.0 / count, Fraction(1, count), {**base, "fix": "scale.fix.too-small-count"}))
    found += _sqrt_dims(case)
    for pname, value in params(case.inputs).items():
        if value not in (0.0, 1.0, -1.0):
            found.append((value, _simple(value), {"meaning_kind": "param", "param": pname,
                                                  "fix": "scale.fix.param"}))
            found.append((1.0 / value, _simple(1.0 / value), {"meaning_kind": "param-inverse",
                                                              "param": pname,
                                                              "fix": "scale.fix.param-inverse"}))
    # a factor that means nothing is evidence only when several elements share it: one element
    # is always "its truth times something"
    simple = Fraction(estimate).limit_denominator(MAX_DENOMINATOR)
    if support >= 2 and simple != 0 and abs(simple.numerator) <= MAX_NUMERATOR:
        found.append((float(simple), simple, {}))
    if support >= MIN_SUPPORT:
        found.append((estimate, None, {}))
    return [(f, q, e) for f, q, e in found if f != 1.0 and abs(f - estimate) <= NEAR * abs(estimate)]


def _simple(value: float) -> Fraction | None:
    """value as a simple fraction (denominator at most PARAM_DENOMINATOR) when it is exactly one."""
    frac = Fraction(value).limit_denominator(PARAM_DENOMINATOR)
    return frac if float(frac) == value and abs(frac.numerator) <= MAX_NUMERATOR else None


def _estimate(case: Case, c: Tensor) -> tuple[float, int] | None:
    """The least-squares factor ⟨c, t⟩ / ⟨t, t⟩ over the known elements clear of their tolerance,
    and how many elements that is."""
    use = case.known & (case.truth.abs() > case.tol)
    if not use.any():
        return None
    t, cu = case.truth[use], c[use]
    f = float((cu * t).sum() / (t * t).sum())
    return (f, int(use.sum())) if math.isfinite(f) and f != 0.0 else None


def scaled(case: Case, c: Tensor) -> Finding | None:
    """sign-flipped or scaled-by, when custom = factor × truth at every known element."""
    found = _estimate(case, c)
    if found is None:
        return None
    for factor, frac, extra in _candidates(case, *found):
        if not case.fits(c, factor * case.truth):
            continue
        if extra.get("sign"):
            return case.finding("sign-flipped", factor=-1.0)
        return case.finding("scaled-by", **_scale_extra(factor, frac, extra))
    return None


def _scale_extra(factor: float, frac: Fraction | None, extra: dict[str, Any]) -> dict[str, Any]:
    """The finding's extra: the factor, its fraction ("1/64") when it is one, what it means and
    the fix (phrases); without a fraction, present formats ``factor`` into ``factor_text``."""
    extra = dict(extra)
    fix = extra.pop("fix", None)
    kind = extra.get("meaning_kind")
    out: dict[str, Any] = {"factor": factor, **extra}
    if frac is not None:
        out["factor_text"] = str(frac)
    fields = {k: extra[k] for k in ("count", "of", "dim", "param") if k in extra}
    out["meaning"] = phrase(f"scale.meaning.{kind}", **fields) if kind else ""
    out["fix_hint"] = phrase(fix, **fields) if fix else phrase("scale.fix.plain")
    return out
