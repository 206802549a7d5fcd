"""The columnar verdict (core/verdicts.py, tolerance.Rule.judge_many) says what the scalar rule says.

grad judges a range's points in numpy where the rule needs no C, and the rest one by one; these
tests hold the two paths to the same verdicts, digits and errors, value by value and point by point.
"""

from __future__ import annotations

import dataclasses
import gc
import math

import pytest
import torch

from backpropcli import functions
from backpropcli.core import derivatives, tolerance, verdicts

SPECIAL = (0.0, -0.0, 1.0, -1.0, 1e-300, 5e-324, 1e-40, 6e40, 1e308, math.inf, -math.inf, math.nan)


def _pairs():
    gen = torch.Generator().manual_seed(11)
    refs = [*SPECIAL, *(torch.randn(150, generator=gen, dtype=torch.float64) * 10.0 ** torch.randint(
        -30, 30, (150,), generator=gen)).tolist()]
    for ref in refs:
        for rel in (0.0, 1e-16, 1e-14, 1e-12, 1e-9, 1e-5, 1.0):
            for value in {ref * (1 + rel), ref + rel, *SPECIAL}:
                yield value, ref


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_the_columnar_rule_says_what_the_scalar_rule_says_where_it_applies(dtype):
    values, truths = zip(*_pairs())
    rule = tolerance.rule(dtype)
    many = rule.judge_many(values, truths)
    simple_seen = 0
    for i, (value, ref) in enumerate(zip(values, truths)):
        ok, lost, used = rule.judge(value, ref, lambda: 7.0)
        held = tolerance.as_dtype(ref, dtype)
        simple = math.isfinite(value) and math.isfinite(held) and not tolerance.needs_conditioning(value, ref, dtype)
        assert bool(many.simple[i]) == simple, (value, ref)
        if simple:
            simple_seen += 1
            assert used is None
            assert bool(many.ok[i]) == ok, (value, ref)
            assert float(many.lost[i]) == pytest.approx(lost, abs=1e-12), (value, ref)
    assert simple_seen > 300  # the test reached the columnar rule, and not only its refusals


def test_columnar_errors_are_the_scalar_errors():
    values, truths = zip(*_pairs())
    abs_errors, rel_errors = tolerance.errors_many(values, truths)
    for value, ref, a, r in zip(values, truths, abs_errors, rel_errors):
        want = 0.0 if value == ref else abs(value - ref)
        assert a == want or (math.isnan(a) and math.isnan(want))
        want_rel = tolerance.relative(want, ref)
        assert r == want_rel or (math.isnan(r) and math.isnan(want_rel)) or r == pytest.approx(want_rel, rel=1e-15)


CASES = [
    ("sinc", {"x": [i * 0.37 - 50 for i in range(200)] + [0.0, 1e-8, 1e-300, 1e300, math.nan]}, {}, "float64"),
    ("sinc", {"x": [i * 0.37 - 50 for i in range(200)] + [0.0, 1e-8]}, {}, "float32"),
    ("quad", {"x": [i * 0.1 - 5 for i in range(60)] + [1e200], "y": [0.3]}, {"a": 1.0, "b": 2.0, "c": 3.0}, "float64"),
    ("softplus", {"x": [i * 3.1 - 300 for i in range(150)] + [800.0, -800.0]}, {}, "float64"),
    ("x*sin(x)", {"x": [i * 0.5 - 20 for i in range(60)]}, {}, "float64"),
    ("sqrt(x)", {"x": [-1.0, 0.0, 2.0]}, {}, "float64"),
    ("x*y/(x**2+y**2)", {"x": [0.0, 1.0, 2.0], "y": [0.0, 0.5, -1.0]}, {}, "float64"),
]


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-13 * max(abs(a), abs(b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name, points, params, dtype", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_a_range_builds_the_same_points_by_either_path(monkeypatch, name, points, params, dtype, order):
    spec = functions.resolve(name, {})
    quick = derivatives.derivatives(spec, points, params, order, dtype, gradcheck=False)
    batch = verdicts.batch
    counted = []

    def nothing_quick(*args, **kwargs):
        out = batch(*args, **kwargs)
        counted.append(sum(out.quick))
        out.quick = [False] * len(out.quick)
        return out

    monkeypatch.setattr(verdicts, "batch", nothing_quick)
    scalar = derivatives.derivatives(spec, points, params, order, dtype, gradcheck=False)
    assert quick.ok == scalar.ok
    for p, q in zip(quick.points, scalar.points, strict=True):
        a, b = dataclasses.asdict(p), dataclasses.asdict(q)
        a.pop("reference"), b.pop("reference")
        assert _same(a, b), p.inputs
    if name in ("sinc", "x*sin(x)"):
        assert counted[0] > len(quick.points) // 2  # most of an ordinary range takes the columnar path


def test_the_collector_is_paused_only_while_points_are_built():
    assert gc.isenabled()
    with verdicts.gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), verdicts.gc_paused():
        raise ZeroDivisionError
    assert gc.isenabled()
