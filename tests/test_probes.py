"""Each capability probe: a correct tensor Function passes, a Function with that probe's bug is
named (and a torch limitation is a warning, never an error)."""

from __future__ import annotations

import pytest
import torch

from backpropcli.doctor.probes import double_backward, grad_output
from tests.probe_functions import Sigmoid, context, linear, linear_reference, sigmoid_reference, unary


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
