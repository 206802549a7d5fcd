"""Every point's verdict at once, as arrays, wherever the rule of core/tolerance.py is simple.

grad on 10^5 points judges half a million values, and one Python call per value (core/judge.py
through tolerance.Rule) cost about two seconds. Most values never need the rule's C: it is measured
only for a value that lost more than 2 digits by the strict measure (tolerance.needs_conditioning).
For a value that is finite, whose truth is finite (also as the dtype holds it) and whose error is
within 100u·|truth| + floor, the rule needs no C, and tolerance.Rule.judge_many applies it to
every such value in one numpy pass. A point with any other value (one that needs
C, a nan, an overflow, a point with no truth) takes the scalar path of core/judge.py whole, so what
is said there is what was always said; tests/test_verdicts.py holds the two equal on the rest.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from backpropcli.core import tolerance


@dataclass
class Batch:
    """The verdicts of every point that the simple rule decides whole (``quick``), column by column.

    Per entry key ("x", or "xy" for a Hessian entry): ``truths``, ``scales``, the judged column's
    ``ok`` and ``lost``, and every method's ``abs_error`` and ``rel_error``; per point: ``ok`` (every
    entry, and f's value for a gradient), ``graph_ok`` and ``graph_lost`` (the report's graph).
    """

    quick: list[bool]
    truths: dict[str, list[float]]
    scales: dict[str, list[float]]
    ok: list[bool]
    entry_ok: dict[str, list[bool]]
    entry_lost: dict[str, list[float]]
    graph_ok: list[bool]
    graph_lost: list[float]
    abs_error: dict[str, dict[str, list[float]]]
    rel_error: dict[str, dict[str, list[float]]]


def batch(order: int, variables: list[str], refs: list, present: dict, values: list[float],
          graph_values: list[float], dtype: str, judged: str) -> Batch:
    """Judge every point at once by the simple rule. ``present[key]`` holds each entry's (method,
    column) pairs, as core/derivatives.py computed them; ``refs`` the points' References."""
    k = len(variables)
    keys = list(variables) if order == 1 else [vi + vj for vi in variables for vj in variables]

    def cell(ref, n: int) -> tuple[float, float]:  # the truth of entry n and its scale
        if ref.status != "ok":
            return 0.0, 0.0
        if order == 1:
            return ref.gradient[variables[n]], ref.gradient_scale[variables[n]]
        return ref.hessian[n // k][n % k], ref.hessian_scale[n // k][n % k]

    cells = {key: [cell(r, n) for r in refs] for n, key in enumerate(keys)}
    truths = {key: [c[0] for c in column] for key, column in cells.items()}
    scales = {key: [c[1] for c in column] for key, column in cells.items()}
    checked = np.array([r.status == "ok" for r in refs], dtype=bool)
    f_truth = [r.value for r in refs]
    entry_ok: dict[str, list[bool]] = {}
    entry_lost: dict[str, list[float]] = {}
    abs_error: dict[str, dict[str, list[float]]] = {}
    rel_error: dict[str, dict[str, list[float]]] = {}
    quick, ok = checked.copy(), np.ones(len(refs), dtype=bool)
    rule = tolerance.rule(dtype)
    graph = [rule.judge_many(graph_values, f_truth)]
    if order == 1:  # a gradient check judges f's value too
        pair = rule.judge_many(values, f_truth)
        quick &= pair.simple
        ok &= pair.ok
    for key in keys:
        columns = dict(present[key])
        pair = rule.judge_many(columns[judged], truths[key])
        quick &= pair.simple
        ok &= pair.ok
        entry_ok[key], entry_lost[key] = pair.ok.tolist(), pair.lost.tolist()
        graph.append(rule.judge_many(columns["autograd"], truths[key]))
        if columns.get("derivative_graph") is not None:
            graph.append(rule.judge_many(columns["derivative_graph"], truths[key]))
        abs_error[key], rel_error[key] = {}, {}
        for method, column in present[key]:
            abs_error[key][method], rel_error[key][method] = tolerance.errors_many(column, truths[key])
    for pair in graph:
        quick &= pair.simple
    return Batch(quick.tolist(), truths, scales, ok.tolist(), entry_ok, entry_lost,
                 np.logical_and.reduce([p.ok for p in graph]).tolist(),
                 np.maximum.reduce([p.lost for p in graph]).tolist(), abs_error, rel_error)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a check builds its points, and back on after.

    The points hold no reference cycles, so there is nothing for it to find; but every few
    thousand allocations it walks every live object, torch's included. Building 10^5 points
    made it walk them hundreds of times: 7.3 s with it against 2.9 s without (sinc, float64).
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
