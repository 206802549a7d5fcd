"""Every finding a probe emits fills its registry templates completely (present/findings.py):
no {field} left that the probe should have given, and numbers come out through present/fmt."""

from __future__ import annotations

import pytest
import torch

import tests.test_probes as t
from backpropcli.present.findings import fix, message
from tests.probe_functions import context, linear, linear_reference, sigmoid_reference, unary


def _old_style():
    subj = linear(t.LinearOldStyle)
    subj.kind = "function-ctx"
    return context(subj, linear_reference)


CASES = {
    "ignores-grad-output": lambda: t.grad_output.run(
        context(unary(t.IgnoresGradOutput), sigmoid_reference, first_ok={"x": False})),
    "wrong-second-derivative": lambda: t.double_backward.run(
        context(unary(t.SigmoidSavedIntermediate), sigmoid_reference)),
    "not-twice-differentiable": lambda: t.double_backward.run(context(unary(t.SigmoidOnce), sigmoid_reference)),
    "wrong-jvp": lambda: t.forward_ad.run(context(linear(t.LinearWrongJvp), linear_reference)),
    "no-jvp": lambda: t.forward_ad.run(context(unary(t.SigmoidNoJvp), sigmoid_reference)),
    "no-setup-context": lambda: t.func_grad.run(_old_style()),
    "no-vmap-rule": lambda: t.func_vmap.run(context(linear(t.LinearNoVmap), linear_reference)),
    "no-batched-grad": lambda: t.batched_grad.run(context(unary(t.SigmoidItemInBackward), sigmoid_reference)),
    "wrong-non-contiguous": lambda: t.non_contiguous.run(context(unary(t.SigmoidRawStorage), sigmoid_reference)),
    "fails-non-contiguous": lambda: t.non_contiguous.run(context(unary(t.SigmoidView), sigmoid_reference)),
    "low-precision-error": lambda: t.low_precision.run(
        context(linear(t.LinearHalfBackward, rows=16), linear_reference, dtype="float32")),
    "nondeterministic-backward": lambda: t.deterministic.run(
        context(unary(t.DropoutRedraws), t.dropout_reference)),
    "saved-tensor-modified": lambda: t.saved_tensors.run(
        context(unary(t.SinModifiesInput, forward=torch.sin), torch.sin)),
    "grad-for-non-differentiable-input": lambda: t.non_differentiable_inputs.run(
        context(t.gather(t.GatherGradForIndex), lambda x, idx, s: x[idx] * s)),
    "surrogate-gradient": lambda: t.surrogate.run(
        context(unary(t.SignStraightThrough, forward=torch.sign), torch.sign, first_ok={"x": False})),
}


@pytest.mark.parametrize("code", CASES)
def test_a_probe_finding_reads_in_full(code):
    findings = CASES[code]().findings
    assert [f.code for f in findings] == [code]
    words = message(findings[0]) + " " + fix(findings[0])
    assert "{" not in words and "}" not in words, words
    if code == "low-precision-error":
        assert "float32" in words and "3×" in words
    if code == "surrogate-gradient":
        assert "straight-through" in words
