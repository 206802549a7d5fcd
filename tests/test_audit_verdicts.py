"""Verdicts found wrong in an audit of `backprop check` on Functions written outside the gallery:
each test is the smallest Function that showed it."""

import torch

from backpropcli.doctor import build
from backpropcli.doctor.diagnose import diagnose

F64 = torch.float64


def _t(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64).requires_grad_()


def _errors(result):
    return [(f.code, f.input) for f in result.findings if f.severity == "error"]


class ClippedSignSTE(torch.autograd.Function):
    """sign(x) @ w with BinaryConnect's clipped straight-through estimator: the surrogate for x
    is non-zero exactly where |x| <= 1, on purpose."""

    @staticmethod
    def forward(x, w):
        return x.sign() @ w

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return (g @ w.T) * (x.abs() <= 1), x.sign().T @ g


def test_a_clipped_straight_through_estimator_is_a_warning_only():
    result = diagnose(build.subject_of(ClippedSignSTE, lambda: (_t(5, 4, seed=1), _t(4, 3, seed=2))))
    assert result.ok and _errors(result) == []
    assert [f.input for f in result.findings if f.code == "surrogate-gradient"] == ["x"]


def _custom_op():
    from probe_functions import scale_op  # backprop_probes::scale, x * a, with a right backward

    return scale_op


def test_a_custom_op_gets_opcheck_rows_through_the_whole_check():
    result = diagnose(build.subject_of(_custom_op(), lambda: (_t(3, 4, seed=3), 2.0)))
    rows = {c.name: c for c in result.capabilities}
    assert "opcheck" in rows and rows["opcheck"].ok is True
    assert "test_schema" in rows["opcheck"].detail


def test_a_custom_op_is_named_by_its_parameters_and_no_forward_rule_is_no_error():
    """A correct op whose forward AD torch drops silently (no tangent at all): not supported, a
    warning; never a wrong derivative."""
    result = diagnose(build.subject_of(_custom_op(), lambda: (_t(3, 4, seed=3), 2.0)))
    assert result.ok and _errors(result) == []
    assert [r.name for r in result.inputs] == ["x", "a"]
    assert "no-jvp" in result.codes


class BiasTanhUnsummed(torch.autograd.Function):
    """tanh(x + bias), bias (C,): backward returns x's gradient for bias too, unsummed; eager
    autograd sums it to (C,), so the gradient the caller gets is right."""

    @staticmethod
    def forward(x, bias):
        return (x + bias).tanh()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        gx = g * (1 - y * y)
        return gx, gx


def test_an_unsummed_bias_gradient_equal_to_xs_is_the_autograd_sums_warning_not_swapped():
    result = diagnose(build.subject_of(BiasTanhUnsummed, lambda: (_t(6, 5, seed=4), _t(5, seed=5))))
    assert result.ok and _errors(result) == []
    assert [f.input for f in result.findings if f.code == "unsummed-broadcast-autograd-sums"] == ["bias"]
