"""classify: how a hand-written gradient is wrong, named only when certain.

Each truth is autograd through plain torch ops (never the code under test); each custom gradient
is what a buggy backward would return, written as that bug. Near-misses (noise within tolerance,
a nearly symmetric matrix, a factor that drifts, a wrong set no condition selects) must not be
named.
"""

from __future__ import annotations

import pytest
import torch
from classify_cases import F64, codes, linear_layer, run, tol_of, vjp

from backpropcli.doctor.classify import classify, pattern_of
from backpropcli.doctor.codes import PHRASES, code
from backpropcli.doctor.results import Finding


@pytest.fixture
def linear():
    return linear_layer()


def test_the_right_gradients_give_no_finding(linear):
    inputs, g, out, truths = linear
    x, w = inputs["x"], inputs["weight"]
    written = {"x": g @ w.T, "weight": x.T @ g, "bias": g.sum(0)}  # the textbook backward
    for name, custom in written.items():
        assert run(name, custom, truths, inputs, g, out) == []


def test_noise_within_the_tolerance_is_not_named(linear):
    inputs, g, out, truths = linear
    t = truths["weight"]
    noise = (torch.rand_like(t) * 2 - 1) * 0.9 * tol_of(t)
    assert run("weight", t + noise, truths, inputs, g, out) == []


def test_transposed_weight_gradient(linear):
    inputs, g, out, truths = linear
    found = run("weight", g.T @ inputs["x"], truths, inputs, g, out)
    assert codes(found) == ["transposed"] and found[0].input == "weight"
    assert pattern_of(found) == "transposed"


def test_a_non_square_weight_transposed_is_a_wrong_shape_that_says_so():
    gen = torch.Generator().manual_seed(2)
    inputs = {"x": torch.randn(64, 32, dtype=F64, generator=gen),
              "weight": torch.randn(32, 16, dtype=F64, generator=gen)}
    g = torch.randn(64, 16, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, weight: x @ weight, inputs, g)
    found = run("weight", g.T @ inputs["x"], truths, inputs, g, out)
    assert codes(found) == ["wrong-shape"]
    extra = found[0].extra
    assert extra["got"] == (16, 32) and extra["want"] == (32, 16)
    assert extra["transpose"] and extra["values_transposed"]
    assert extra["transpose_note"] == PHRASES["shape.transposed-values"]
    garbage = run("weight", torch.randn(16, 32, dtype=F64, generator=gen), truths, inputs, g, out)
    assert codes(garbage) == ["wrong-shape"] and not garbage[0].extra["values_transposed"]


def test_bias_returned_unsummed_is_the_warning_autograd_sums(linear):
    inputs, g, out, truths = linear
    found = run("bias", g, truths, inputs, g, out)  # (64, 32) for a (32,) bias
    assert codes(found) == ["unsummed-broadcast-autograd-sums"]
    assert found[0].severity == "warning"
    assert found[0].extra["dims"] == [0] and found[0].extra["got"] == (64, 32)
    assert found[0].extra["call"] == ".sum(0)"


def test_bias_unsummed_and_scaled_names_both(linear):
    inputs, g, out, truths = linear
    found = run("bias", g / 64, truths, inputs, g, out)
    assert codes(found) == ["scaled-by", "unsummed-broadcast-autograd-sums"]
    assert found[0].extra["factor_text"] == "1/64"
    assert pattern_of(found) == "scaled-by"


def test_bias_summed_over_the_wrong_dim_square(linear):
    """g is 64×32; with a 32×32 output the wrong sum keeps the shape: only the values show it."""
    gen = torch.Generator().manual_seed(3)
    inputs = {"x": torch.randn(32, 32, dtype=F64, generator=gen), "bias": torch.randn(32, dtype=F64, generator=gen)}
    g = torch.randn(32, 32, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, bias: x.tanh() + bias, inputs, g)
    found = run("bias", g.sum(1), truths, inputs, g, out)
    assert codes(found) == ["missing-broadcast-sum"]
    assert found[0].extra["dims"] == [0] and found[0].extra["wrong_dims"] == [1]
    assert ".sum(0)" in found[0].extra["hint"]


def test_bias_summed_over_the_wrong_dim_changes_the_shape(linear):
    inputs, g, out, truths = linear
    found = run("bias", g.sum(1), truths, inputs, g, out)  # (64,) for (32,)
    assert codes(found) == ["missing-broadcast-sum"]
    assert found[0].extra["wrong_dims"] == [1] and found[0].extra["got"] == (64,)


def test_a_gradient_autograd_cannot_reduce_but_whose_sum_is_right(linear):
    inputs, g, out, truths = linear
    found = run("bias", g.T, truths, inputs, g, out)  # (32, 64): does not broadcast from (32,)
    assert codes(found) == ["missing-broadcast-sum"]
    assert found[0].extra["dims"] == [1] and found[0].extra["autograd_sums"] is False


def test_a_column_broadcast_unsummed_keeps_its_dim():
    gen = torch.Generator().manual_seed(4)
    inputs = {"x": torch.randn(16, 8, dtype=F64, generator=gen),
              "scale": torch.randn(16, 1, dtype=F64, generator=gen)}
    g = torch.randn(16, 8, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, scale: x * scale, inputs, g)
    found = run("scale", g * inputs["x"], truths, inputs, g, out)
    assert codes(found) == ["unsummed-broadcast-autograd-sums"]
    assert found[0].extra["dims"] == [1] and found[0].extra["call"] == ".sum(1, keepdim=True)"


def test_mean_whose_backward_is_a_sums():
    """forward = x.mean(), backward returns g (the sum's gradient): too big by numel."""
    gen = torch.Generator().manual_seed(5)
    inputs = {"x": torch.randn(64, 32, dtype=F64, generator=gen)}
    g = torch.tensor(0.7, dtype=F64)
    out, truths = vjp(lambda x: x.mean(), inputs, g)
    found = run("x", g.expand(64, 32).clone(), truths, inputs, g, out)
    assert codes(found) == ["scaled-by"]
    extra = found[0].extra
    assert extra["factor_text"] == "2048" and extra["count"] == 2048 and extra["meaning_kind"] == "ratio"
    assert extra["fix_hint"] == PHRASES["scale.fix.too-big-count"].format(count=2048)


def test_sum_whose_backward_divides_by_numel():
    gen = torch.Generator().manual_seed(6)
    inputs = {"x": torch.randn(8, 8, dtype=F64, generator=gen)}
    g = torch.randn(8, dtype=F64, generator=gen)
    out, truths = vjp(lambda x: x.sum(1), inputs, g)
    found = run("x", (g[:, None] / 8).expand(8, 8).clone(), truths, inputs, g, out)
    assert codes(found) == ["scaled-by"]
    assert found[0].extra["factor_text"] == "1/8" and found[0].extra["meaning_kind"] == "ratio"


def test_a_parameter_left_out_of_backward():
    gen = torch.Generator().manual_seed(7)
    inputs = {"x": torch.randn(40, dtype=F64, generator=gen), "a": 2.7}
    g = torch.randn(40, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, a: a * x**2, inputs, g)
    found = run("x", 2 * inputs["x"] * g, truths, inputs, g, out)
    assert codes(found) == ["scaled-by"]
    assert found[0].extra["meaning_kind"] == "param-inverse" and found[0].extra["param"] == "a"
    assert "factor_text" not in found[0].extra  # 1/2.7 is no simple fraction: present formats it


def test_sign_flipped_and_zero_and_none(linear):
    inputs, g, out, truths = linear
    t = truths["x"]
    assert codes(run("x", -t, truths, inputs, g, out)) == ["sign-flipped"]
    assert codes(run("x", torch.zeros_like(t), truths, inputs, g, out)) == ["returns-zero"]
    none = run("x", None, truths, inputs, g, out)
    assert codes(none) == ["returns-zero"] and none[0].extra["returned_none"]


def test_none_for_an_input_whose_gradient_is_zero_is_right():
    t = torch.zeros(5, dtype=F64)
    assert classify("x", None, t, tol_of(t) + 1e-12, inputs={}, cotangents=(), outputs=()) == []


def test_swapped_gradients_by_name():
    gen = torch.Generator().manual_seed(8)
    inputs = {"x": torch.randn(10, 6, dtype=F64, generator=gen), "y": torch.randn(10, 6, dtype=F64, generator=gen)}
    g = torch.randn(10, 6, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, y: x * y**2, inputs, g)
    found = run("x", truths["y"], truths, inputs, g, out, others={"y": (truths["x"], truths["y"])})
    assert codes(found) == ["swapped-gradients"]
    assert found[0].extra["other"] == "y" and found[0].extra["both"] and found[0].extra["order"] == "x, y"


def test_swapped_gradients_of_different_shapes():
    gen = torch.Generator().manual_seed(9)
    inputs = {"x": torch.randn(12, 5, dtype=F64, generator=gen), "weight": torch.randn(5, 3, dtype=F64, generator=gen)}
    g = torch.randn(12, 3, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, weight: x @ weight, inputs, g)
    found = run("x", truths["weight"], truths, inputs, g, out,
                others={"weight": (truths["x"], truths["weight"], tol_of(truths["weight"]))})
    assert codes(found) == ["swapped-gradients"] and found[0].extra["got"] == (5, 3)


def test_exclusive_cumsum_backward_is_shifted():
    gen = torch.Generator().manual_seed(14)
    inputs = {"x": torch.randn(16, 20, dtype=F64, generator=gen)}
    g = torch.randn(16, 20, dtype=F64, generator=gen)
    out, truths = vjp(lambda x: x.cumsum(1), inputs, g)
    inclusive = g.flip(1).cumsum(1).flip(1)
    assert run("x", inclusive, truths, inputs, g, out) == []
    found = run("x", inclusive - g, truths, inputs, g, out)  # the exclusive scan
    assert codes(found) == ["shifted"] and found[0].extra["kind"] == "exclusive"
    doubled = run("x", inclusive + g, truths, inputs, g, out)
    assert codes(doubled) == ["shifted"] and doubled[0].extra["sign"] == 1


def test_wrong_everywhere_in_no_pattern_is_the_fallback(linear):
    inputs, g, out, truths = linear
    t = truths["x"]
    gen = torch.Generator().manual_seed(18)
    custom = t + torch.randn(t.shape, generator=gen, dtype=F64)
    found = run("x", custom, truths, inputs, g, out)
    assert codes(found) == ["wrong-gradient"]
    err = (custom - t).abs()
    worst = tuple(int(i) for i in torch.unravel_index(err.argmax(), t.shape))
    assert found[0].extra["worst_index"] == worst and found[0].extra["max_abs_error"] == float(err.max())


def test_a_nearly_symmetric_matrix_is_not_called_transposed():
    gen = torch.Generator().manual_seed(19)
    a = torch.randn(24, 24, dtype=F64, generator=gen)
    sym, anti = a + a.T, 1e-4 * (a - a.T)
    truth = sym + anti
    tol = tol_of(truth)
    found = classify("w", sym, truth, tol, inputs={}, cotangents=(), outputs=())  # a symmetrised gradient
    assert "transposed" not in codes(found)
    near = classify("w", truth.T + 10 * tol.max(), truth, tol, inputs={}, cotangents=(), outputs=())
    assert codes(near) == ["wrong-gradient"]
    assert codes(classify("w", truth.T, truth, tol, inputs={}, cotangents=(), outputs=())) == ["transposed"]


def test_a_factor_that_varies_slightly_is_not_a_scale(linear):
    inputs, g, out, truths = linear
    t = truths["x"]
    gen = torch.Generator().manual_seed(20)
    drift = 2 + 1e-4 * torch.randn(t.shape, generator=gen, dtype=F64)
    found = run("x", t * drift, truths, inputs, g, out)
    assert "scaled-by" not in codes(found)
    assert codes(run("x", t * 2, truths, inputs, g, out)) == ["scaled-by"]


def test_an_arbitrary_constant_factor_is_named_without_a_fraction(linear):
    inputs, g, out, truths = linear
    found = run("x", truths["x"] * 0.123456789, truths, inputs, g, out)
    assert codes(found) == ["scaled-by"] and "factor_text" not in found[0].extra
    assert found[0].extra["factor"] == pytest.approx(0.123456789, rel=1e-12)
    assert codes(run("x", truths["x"] * 0.75, truths, inputs, g, out)) == ["scaled-by"]
    assert run("x", truths["x"] * 0.75, truths, inputs, g, out)[0].extra["factor_text"] == "3/4"


def test_pattern_of_prefers_errors_and_filters_by_input():
    found = [Finding("unsummed-broadcast-autograd-sums", input="b"), Finding("transposed", input="w"),
             Finding("scaled-by", input="b")]
    assert pattern_of(found) == "transposed"
    assert pattern_of(found, "b") == "scaled-by"
    assert pattern_of(found[:1], "b") == "unsummed-broadcast-autograd-sums"
    assert pattern_of([]) is None and pattern_of(found, "x") is None


def test_every_phrase_fills_and_every_code_used_is_registered():
    for key, text in PHRASES.items():
        assert "{" not in text.format(count=3, of="x", dim=1, param="a", call=".sum(0)", wrong="1",
                                      got=(2, 3), want=(3,), index="idx"), key
    for name in ("wrong-shape", "transposed", "missing-broadcast-sum", "scaled-by", "sign-flipped",
                 "returns-zero", "swapped-gradients", "shifted", "wrong-at-points", "nan-where-finite",
                 "wrong-gradient", "unsummed-broadcast-autograd-sums"):
        code(name)


def test_a_zero_truth_is_no_licence_to_call_anything_swapped():
    """With this input's truth all zero there is no magnitude to scale a tolerance by: the other
    input's truth must then be matched within this input's absolute tolerance."""
    t = torch.zeros(4, 3, dtype=F64)
    other = torch.randn(5, 2, dtype=F64)
    found = classify("x", torch.randn(5, 2, dtype=F64), t, torch.full_like(t, 1e-12), inputs={},
                     cotangents=(), outputs=(), others={"y": (None, other)})
    assert codes(found) == ["wrong-shape"]


def test_a_per_row_scale_summed_over_the_wrong_dim():
    """y = x * scale, scale (16, 1): its gradient is (g * x) summed over dim 1, kept; backward
    sums over dim 0 instead, the broadcast gradient's other dim."""
    gen = torch.Generator().manual_seed(21)
    inputs = {"x": torch.randn(16, 8, dtype=F64, generator=gen),
              "scale": torch.randn(16, 1, dtype=F64, generator=gen)}
    g = torch.randn(16, 8, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, scale: x * scale, inputs, g)
    found = run("scale", (g * inputs["x"]).sum(0), truths, inputs, g, out)
    assert codes(found) == ["missing-broadcast-sum"]
    assert found[0].extra["dims"] == [1] and found[0].extra["wrong_dims"] == [0]
    assert ".sum(1, keepdim=True)" in found[0].extra["hint"]


def test_the_right_values_in_another_shape_are_a_reshape_not_a_sum():
    t = torch.randn(32, dtype=F64)
    found = classify("b", t[:, None].clone(), t, tol_of(t), inputs={}, cotangents=(), outputs=())
    assert codes(found) == ["wrong-shape"] and found[0].extra["reshaped"]
    assert found[0].extra["transpose_note"] == PHRASES["shape.reshaped"]


def test_a_factor_of_two_is_not_read_as_a_dims_size():
    """x² written with backward 4x·g: twice the truth; x has a dim of size 2, which means nothing."""
    gen = torch.Generator().manual_seed(22)
    inputs = {"x": torch.randn(2, 50, dtype=F64, generator=gen)}
    g = torch.randn(2, 50, dtype=F64, generator=gen)
    out, truths = vjp(lambda x: x**2, inputs, g)
    found = run("x", 4 * inputs["x"] * g, truths, inputs, g, out)
    assert codes(found) == ["scaled-by"] and found[0].extra["factor_text"] == "2"
    assert "meaning_kind" not in found[0].extra and found[0].extra["meaning"] == ""


def test_a_single_number_as_the_tolerance():
    t = torch.arange(1.0, 7.0, dtype=F64).reshape(2, 3)
    assert codes(classify("x", -t, t, 1e-9, inputs={}, cotangents=(), outputs=())) == ["sign-flipped"]
    assert classify("x", t + 1e-10, t, 1e-9, inputs={}, cotangents=(), outputs=()) == []


def test_the_local_derivative_without_grad_output():
    gen = torch.Generator().manual_seed(25)
    inputs = {"x": torch.randn(64, 32, dtype=F64, generator=gen)}
    g = torch.randn(64, 32, dtype=F64, generator=gen)
    out, truths = vjp(lambda x: x * torch.sigmoid(x), inputs, g)
    s = torch.sigmoid(inputs["x"])
    local = s * (1 + inputs["x"] * (1 - s))  # SiLU's derivative, never times g
    assert codes(run("x", local, truths, inputs, g, out)) == ["ignores-grad-output"]
    loss_g = torch.tensor(1.7, dtype=F64)  # a scalar loss: its cotangent is one number
    out0, truths0 = vjp(lambda x: (x**2).sum(), inputs, loss_g)
    assert codes(run("x", 2 * inputs["x"], truths0, inputs, loss_g, out0)) == ["ignores-grad-output"]


def test_grad_output_passed_straight_through_a_zero_truth_is_not_a_shift():
    """round's derivative is 0; a straight-through backward returns g: not 'the own term twice'."""
    gen = torch.Generator().manual_seed(26)
    inputs = {"x": 3 * torch.randn(100, dtype=F64, generator=gen)}
    g = torch.randn(100, dtype=F64, generator=gen)
    out, truths = vjp(lambda x: torch.round(x), inputs, g)
    assert codes(run("x", g.clone(), truths, inputs, g, out)) == ["wrong-gradient"]


def test_attention_scores_without_the_inverse_sqrt_d_in_backward():
    gen = torch.Generator().manual_seed(27)
    inputs = {"q": torch.randn(4, 16, 64, dtype=F64, generator=gen),
              "k": torch.randn(4, 16, 64, dtype=F64, generator=gen)}
    g = torch.randn(4, 16, 16, dtype=F64, generator=gen)
    out, truths = vjp(lambda q, k: q @ k.mT / 8.0, inputs, g)
    found = run("k", g.mT @ inputs["q"], truths, inputs, g, out)  # the 1/√64 left out
    assert codes(found) == ["scaled-by"]
    extra = found[0].extra
    assert extra["factor_text"] == "8" and extra["meaning_kind"] == "sqrt-dim" and extra["count"] == 64
    assert extra["fix_hint"] == PHRASES["scale.fix.sqrt-too-big"].format(count=64)


def test_a_pattern_check_that_fails_still_gives_the_plain_finding(monkeypatch):
    from backpropcli.doctor import classify as module

    def broken(case, c):
        raise RuntimeError("a check that cannot handle these tensors")

    monkeypatch.setattr(module.scales, "scaled", broken)
    t = torch.arange(1.0, 7.0, dtype=F64)
    found = classify("x", 2 * t, t, 1e-9, inputs={}, cotangents=(), outputs=())
    assert codes(found) == ["wrong-gradient"] and found[0].extra["unclassified"] == "RuntimeError"


def test_a_doubled_gradient_is_not_explained_by_the_square_root_of_a_dim_of_4():
    """A factor 2 with a last dimension of 4 is a constant of the maths, not √4 (the audit's
    x.mul_(2) case): the finding names the factor without that meaning."""
    gen = torch.Generator().manual_seed(28)
    inputs = {"x": torch.randn(6, 4, dtype=F64, generator=gen)}
    g = torch.randn(6, 4, dtype=F64, generator=gen)
    out, truths = vjp(lambda x: torch.tanh(x), inputs, g)
    found = run("x", 2 * truths["x"], truths, inputs, g, out)
    assert codes(found) == ["scaled-by"]
    assert found[0].extra.get("meaning_kind") != "sqrt-dim", found[0].extra
