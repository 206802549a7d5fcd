"""classify's wrong-at-points and nan-where-finite: the condition the wrong elements share, named
only when it selects exactly them (conditions.py), and never one when none does."""

from __future__ import annotations

import pytest
import torch
from classify_cases import F64, codes, linear_layer, run, tol_of, vjp

from backpropcli.doctor import conditions
from backpropcli.doctor.classify import classify


@pytest.fixture
def linear():
    return linear_layer()


def test_relu_backward_wrong_exactly_where_x_is_negative():
    gen = torch.Generator().manual_seed(10)
    inputs = {"x": torch.randn(64, 32, dtype=F64, generator=gen)}
    g = torch.randn(64, 32, dtype=F64, generator=gen)
    out, truths = vjp(lambda x: torch.relu(x), inputs, g)
    found = run("x", g.clone(), truths, inputs, g, out)  # forgot the mask
    assert codes(found) == ["wrong-at-points"]
    extra = found[0].extra
    assert extra["condition"] == {"input": "x", "op": "<", "value": 0}
    assert {"input": "x", "op": "<=", "value": 0} in extra["equivalent"]
    assert extra["count"] == int((inputs["x"] < 0).sum()) and extra["total"] == 64 * 32
    assert len(extra["worst"]) == 5 and all(w["inputs"]["x"] < 0 for w in extra["worst"])
    assert extra["there"] is None  # g where 0 was due: neither zero nor the sign there
    zeroed = run("x", torch.where(inputs["x"] > 1, 0.0, out.gt(0) * g), truths, inputs, g, out)
    assert zeroed[0].extra["condition"] == {"input": "x", "op": ">", "value": 1}
    assert zeroed[0].extra["there"] == "zero"


def test_clamp_backward_wrong_below_its_bound():
    gen = torch.Generator().manual_seed(11)
    inputs = {"x": torch.randn(200, dtype=F64, generator=gen), "lo": -0.5}
    g = torch.randn(200, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, lo: x.clamp(min=lo), inputs, g)
    found = run("x", g.clone(), truths, inputs, g, out)
    assert found[0].extra["condition"] == {"input": "x", "op": "<", "value": -0.5, "param": "lo"}


def test_index_select_backward_that_assigns_instead_of_accumulating():
    gen = torch.Generator().manual_seed(12)
    idx = torch.tensor([3, 1, 3, 7, 0, 1, 3, 9])  # rows 1 and 3 repeat; 2, 4, 5, 6, 8 never named
    inputs = {"weight": torch.randn(10, 16, dtype=F64, generator=gen), "idx": idx}
    g = torch.randn(8, 16, dtype=F64, generator=gen)
    out, truths = vjp(lambda weight, idx: weight.index_select(0, idx), inputs, g)
    custom = torch.zeros(10, 16, dtype=F64)
    custom[idx] = g  # the bug: the last write wins where an index repeats
    found = run("weight", custom, truths, inputs, g, out)
    assert codes(found) == ["wrong-at-points"]
    assert found[0].extra["condition"] == {"index": "idx", "dim": 0, "repeats": True}
    assert "index_add_" in found[0].extra["hint"]


def test_gather_backward_that_scatters_instead_of_adding():
    gen = torch.Generator().manual_seed(13)
    idx = torch.randint(0, 6, (5, 4), generator=gen)
    idx[:, 1] = idx[:, 0]  # every row repeats an entry
    inputs = {"x": torch.randn(5, 6, dtype=F64, generator=gen), "idx": idx}
    g = torch.randn(5, 4, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, idx: x.gather(1, idx), inputs, g)
    custom = torch.zeros(5, 6, dtype=F64).scatter_(1, idx, g)
    found = run("x", custom, truths, inputs, g, out)
    assert found[0].extra["condition"] == {"index": "idx", "dim": 1, "repeats": True, "along": True}
    assert "scatter_add_" in found[0].extra["hint"]


def test_nan_where_the_truth_is_finite_names_the_zeros():
    gen = torch.Generator().manual_seed(15)
    x = torch.randn(50, dtype=F64, generator=gen)
    x[[3, 17, 40]] = 0.0
    inputs = {"x": x}
    g = torch.randn(50, dtype=F64, generator=gen)
    out, truths = vjp(lambda x: x**3, inputs, g)
    custom = 3 * x**3 / x * g  # 0/0 at the zeros
    found = run("x", custom, truths, inputs, g, out)
    assert codes(found) == ["nan-where-finite"]
    assert found[0].extra["count"] == 3 and found[0].extra["condition"] == {"input": "x", "op": "==", "value": 0}


def test_nan_and_another_bug_are_both_named():
    gen = torch.Generator().manual_seed(16)
    x = torch.randn(50, dtype=F64, generator=gen)
    x[5] = 0.0
    g = torch.randn(50, dtype=F64, generator=gen)
    out, truths = vjp(lambda x: x**3, {"x": x}, g)
    custom = -(3 * x**3 / x * g)
    assert codes(run("x", custom, truths, {"x": x}, g, out)) == ["nan-where-finite", "sign-flipped"]


def test_a_wrong_set_no_condition_selects(linear):
    inputs, g, out, truths = linear
    t = truths["x"]
    gen = torch.Generator().manual_seed(17)
    picked = torch.rand(t.shape, generator=gen, dtype=F64) < 0.1
    found = run("x", torch.where(picked, t + 1.0, t), truths, inputs, g, out)
    assert codes(found) == ["wrong-at-points"]
    assert found[0].extra["condition"] is None and found[0].extra["count"] == int(picked.sum())


def test_unknown_elements_are_not_judged(linear):
    inputs, g, out, truths = linear
    t = truths["weight"]
    known = torch.ones_like(t, dtype=torch.bool)
    known[0, :5] = False
    unknown = t.clone()
    unknown[0, :5] = torch.nan  # no truth there
    ctx = dict(inputs=inputs, cotangents=(g,), outputs=(out,), known=known)
    assert codes(classify("weight", t.T, unknown, tol_of(t), **ctx)) == ["transposed"]
    wrong_where_unknown = t.clone()
    wrong_where_unknown[0, :5] += 100.0
    assert classify("weight", wrong_where_unknown, unknown, tol_of(t), **ctx) == []
    wrong_where_known = t.clone()
    wrong_where_known[1, :5] += 100.0
    found = classify("weight", wrong_where_known, unknown, tol_of(t), **ctx)
    assert codes(found) == ["wrong-at-points"] and found[0].extra["total"] == 32 * 32 - 5


def test_conditions_prefer_the_first_and_never_a_trivial_one():
    x = torch.tensor([-2.0, -0.5, 0.5, 2.0], dtype=F64)
    known = torch.ones(4, dtype=torch.bool)
    found = conditions.matching(x.abs() > 1, known, {"x": x})
    assert found[0].condition == {"input": "x", "op": ">", "value": 1, "abs": True}
    assert conditions.matching(torch.ones(4, dtype=torch.bool), known, {"x": x}) == []
    assert conditions.matching(torch.tensor([True, False, True, False]), known, {"x": x}) == []
    out = torch.relu(x)
    by_output = conditions.matching(x < 0, known, {}, (out,))
    assert by_output[0].condition == {"output": 0, "op": "<=", "value": 0}


def test_clamp_between_two_bounds_wrong_outside_them():
    gen = torch.Generator().manual_seed(23)
    inputs = {"x": 2 * torch.randn(300, dtype=F64, generator=gen), "lo": -1.5, "hi": 0.5}
    g = torch.randn(300, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, lo, hi: x.clamp(lo, hi), inputs, g)
    found = run("x", g.clone(), truths, inputs, g, out)
    assert found[0].extra["condition"] == {"any": [{"input": "x", "op": "<", "value": -1.5},
                                                   {"input": "x", "op": ">", "value": 0.5}],
                                           "params": ["lo", "hi"]}


def test_a_bool_mask_input_and_the_rows_an_index_never_names():
    gen = torch.Generator().manual_seed(24)
    mask = torch.rand(40, generator=gen) < 0.3
    x = torch.randn(40, dtype=F64, generator=gen)
    known = torch.ones(40, dtype=torch.bool)
    found = conditions.matching(~mask, known, {"x": x, "mask": mask})
    assert found[0].condition == {"input": "mask", "op": "==", "value": False}
    idx = torch.tensor([0, 2, 2, 5])
    never = torch.ones(6, 3, dtype=torch.bool)
    never[idx] = False
    found = conditions.matching(never, torch.ones(6, 3, dtype=torch.bool), {"idx": idx})
    assert found[0].condition == {"index": "idx", "dim": 0, "selects": False}


def test_a_condition_on_a_0d_or_tiny_gradient():
    x = torch.tensor([-1.0, 2.0], dtype=F64)
    t = torch.tensor([0.0, 3.0], dtype=F64)
    found = classify("x", torch.tensor([5.0, 3.0], dtype=F64), t, tol_of(t) + 1e-12, inputs={"x": x},
                     cotangents=(), outputs=())
    assert codes(found) == ["wrong-at-points"]
    assert found[0].extra["condition"] == {"input": "x", "op": "<", "value": 0}
