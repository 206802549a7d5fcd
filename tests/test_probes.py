"""Each capability probe: a correct tensor Function passes, a Function with that probe's bug is
named (and a torch limitation is a warning, never an error)."""

from __future__ import annotations

import pytest
import torch

from backpropcli.doctor.probes import (
    batched_grad,
    double_backward,
    forward_ad,
    func_grad,
    func_hessian,
    func_jacrev,
    func_vmap,
    grad_output,
)
from tests.probe_functions import Linear, Sigmoid, context, linear, linear_reference, sigmoid_reference, unary


def codes(result):
    return [f.code for f in result.findings]


def inputs_of(result):
    return [f.input for f in result.findings]


# ---- grad-output ----------------------------------------------------------------------------------

class IgnoresGradOutput(Sigmoid):
    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return s * (1 - s)


class SquaresGradOutput(Sigmoid):
    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return g * g * s * (1 - s)  # right for g = ones only


def test_grad_output_correct_linear_passes():
    ctx = context(linear(), linear_reference)
    result = grad_output.run(ctx)
    assert result.capability.ok is True and result.findings == []
    assert ctx.cost.forward_calls == 1 and ctx.cost.backward_calls == 3


@pytest.mark.parametrize(("fn", "code"), [(IgnoresGradOutput, "ignores-grad-output"),
                                          (SquaresGradOutput, "grad-output-misused")])
def test_grad_output_names_the_misuse(fn, code):
    result = grad_output.run(context(unary(fn), sigmoid_reference, first_ok={"x": False}))
    assert result.capability.ok is False
    assert codes(result) == [code] and inputs_of(result) == ["x"]


# ---- double-backward ------------------------------------------------------------------------------

class SigmoidSavedIntermediate(Sigmoid):
    """First derivative right; the intermediate saved in setup_context is a constant to autograd."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.e = torch.exp(-inputs[0]).detach()

    @staticmethod
    def backward(ctx, g):
        return g * ctx.e / (1 + ctx.e) ** 2


class SigmoidOnce(Sigmoid):
    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return g * s * (1 - s)


def test_double_backward_correct_passes():
    for subj, ref in ((unary(Sigmoid), sigmoid_reference), (linear(), linear_reference)):
        ctx = context(subj, ref)
        result = double_backward.run(ctx)
        assert result.capability.ok is True, result.capability.detail
        assert result.findings == []
        assert "truth" in result.capability.compared_with


def test_double_backward_names_saved_intermediates():
    result = double_backward.run(context(unary(SigmoidSavedIntermediate), sigmoid_reference))
    assert codes(result) == ["wrong-second-derivative"] and inputs_of(result) == ["x"]
    assert result.findings[0].severity == "warning"


def test_double_backward_once_differentiable_is_a_warning():
    result = double_backward.run(context(unary(SigmoidOnce), sigmoid_reference))
    assert codes(result) == ["not-twice-differentiable"]
    assert "once_differentiable" in result.findings[0].extra["why"]


def test_double_backward_by_differences_without_a_differentiable_truth():
    good = context(unary(Sigmoid), sigmoid_reference)
    good.truth.differentiable_forward = None
    result = double_backward.run(good)
    assert result.capability.ok is True and "differences" in result.capability.compared_with
    bad = context(unary(SigmoidSavedIntermediate), sigmoid_reference)
    bad.truth.differentiable_forward = None
    assert codes(double_backward.run(bad)) == ["wrong-second-derivative"]


# ---- forward AD and torch.func --------------------------------------------------------------------

class LinearOldStyle(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w + b

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w.T, x.T @ g, g.sum(0)


class LinearNoVmap(Linear):
    generate_vmap_rule = False


class LinearWrongJvp(Linear):
    @staticmethod
    def jvp(ctx, xt, wt, bt):
        x, w = ctx.saved_tensors
        return xt @ w + bt  # forgets x @ wt


class SigmoidNoJvp(Sigmoid):
    jvp = torch.autograd.Function.jvp


class SigmoidItemInBackward(Sigmoid):
    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        scale = 1.0 if g.abs().sum().item() >= 0 else 0.0  # .item() cannot be vmapped
        return scale * g * s * (1 - s)


FUNC = (forward_ad, func_grad, func_vmap, func_jacrev, func_hessian, batched_grad)


@pytest.mark.parametrize("probe", FUNC, ids=lambda p: p.NAME)
def test_func_probes_pass_a_correct_linear(probe):
    ctx = context(linear(), linear_reference)
    result = probe.run(ctx)
    assert result.capability.ok is True, result.capability.detail
    assert result.findings == [] and result.capability.compared_with
    assert 1 <= ctx.cost.forward_calls <= 3 and ctx.cost.backward_calls <= 1


@pytest.mark.parametrize("probe", (func_grad, func_vmap, func_jacrev, func_hessian), ids=lambda p: p.NAME)
def test_old_style_function_is_a_no_setup_context_warning(probe):
    subj = linear(LinearOldStyle)
    subj.kind = "function-ctx"
    result = probe.run(context(subj, linear_reference))
    assert result.capability.ok is None
    assert codes(result) == ["no-setup-context"] and result.findings[0].severity == "warning"
    assert result.findings[0].extra["name"] == subj.name


def test_no_vmap_rule_is_a_warning():
    result = func_vmap.run(context(linear(LinearNoVmap), linear_reference))
    assert result.capability.ok is None and codes(result) == ["no-vmap-rule"]
    # grad and jacrev vmap only the backward (plain ops), never forward: no rule needed
    for probe in (func_grad, func_jacrev):
        assert probe.run(context(linear(LinearNoVmap), linear_reference)).capability.ok is True


def test_forward_ad_names_the_input_whose_jvp_is_wrong():
    ctx = context(linear(LinearWrongJvp), linear_reference)
    result = forward_ad.run(ctx)
    assert result.capability.ok is False
    assert codes(result) == ["wrong-jvp"] and inputs_of(result) == ["w"]
    assert result.findings[0].severity == "error"
    assert ctx.cost.forward_calls == 4  # one with every tangent, then one per input


def test_forward_ad_without_jvp_is_a_warning():
    result = forward_ad.run(context(unary(SigmoidNoJvp), sigmoid_reference))
    assert result.capability.ok is None and codes(result) == ["no-jvp"]


def test_hessian_sees_a_wrong_second_derivative_and_needs_a_jvp():
    assert func_hessian.run(context(unary(Sigmoid), sigmoid_reference)).capability.ok is True
    assert func_hessian.run(context(unary(SigmoidSavedIntermediate), sigmoid_reference)).capability.ok is False
    result = func_hessian.run(context(unary(SigmoidNoJvp), sigmoid_reference))
    assert result.capability.ok is None and codes(result) == ["no-jvp"]


def test_batched_grad_item_in_backward_is_a_warning():
    result = batched_grad.run(context(unary(SigmoidItemInBackward), sigmoid_reference))
    assert result.capability.ok is None and codes(result) == ["no-batched-grad"]
