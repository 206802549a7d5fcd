"""One point of a derivative check judged against its truth, by the one rule of core/tolerance.py.

A point whose Reference has no truth to judge against (f not real there, undefined, not
differentiable, or the two truths disagree) is not judged: its ``ok`` is None and its ``status``
says why. Every other point is judged, each derivative by

    |value - truth| <= rtol·|truth| + 8u·C + floor

where C (core/conditioning.py) is computed only for the values that lose more than 2 digits by the
strict measure (C = 0): elsewhere it changes neither the verdict nor the digits shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backpropcli.core import conditioning, tolerance

STATUSES = ("checked", "not-real", "undefined", "not-differentiable", "truth-uncertain")


class Allowance:
    """C of every quantity at one point, measured once and only when some value needs it."""

    def __init__(self, measure: Callable[[], list[float]]) -> None:
        self._measure = measure
        self._values: list[float] | None = None

    def __call__(self, index: int) -> float:
        if self._values is None:
            self._values = self._measure()
        return self._values[index]

    def judge(self, value: float, ref: float, index: int, dtype: str) -> tuple[bool, float, float | None]:
        """(ok, digits lost, C or None where it was not needed)."""
        return tolerance.rule(dtype).judge(value, ref, lambda: self(index))


def allowance_for(spec, ref, inputs: dict, params: dict, order: int, dtype: str) -> Allowance:
    return Allowance(lambda: conditioning.measure(spec, ref, inputs, params, order, dtype))


def compare(comparison_type, ref: float, scale: float, index: int, allowance: Allowance, dtype: str, judged: str,
            **values: float):
    """A Comparison of every method's value with the truth; the judged column decides ``ok``."""
    abs_err = {m: 0.0 if v == ref else abs(v - ref) for m, v in values.items()}  # a shared inf: no error
    rel_err = {m: tolerance.relative(e, ref) for m, e in abs_err.items()}
    ok, lost, cond = allowance.judge(values[judged], ref, index, dtype)
    return comparison_type(analytic=ref, **values, ok=ok, abs_error=abs_err, rel_error=rel_err, scale=scale,
                           conditioning=cond, digits_lost=lost)


def unjudged(comparison_type, ref: float, scale: float, **values: float):
    """A Comparison where there is no truth to judge against: the columns, no errors, ok None."""
    return comparison_type(analytic=ref, **values, ok=None, scale=scale)


def graph_verdict(point, entries: list[tuple[int, Any]], allowance: Allowance, dtype: str) -> None:
    """Judge the report's graph at a judged ``point``: its value and every autograd column through it."""
    pairs = [(point.value_graph, point.value_analytic, 0)]
    for index, comp in entries:
        pairs.append((comp.autograd, comp.analytic, index))
        if comp.derivative_graph is not None:
            pairs.append((comp.derivative_graph, comp.analytic, index))
    verdicts = [allowance.judge(v, r, i, dtype) for v, r, i in pairs]
    point.graph_ok = all(ok for ok, _, _ in verdicts)
    point.graph_digits_lost = max(lost for _, lost, _ in verdicts)

