"""Each capability probe: a correct tensor Function passes, a Function with that probe's bug is
named (and a torch limitation is a warning, never an error)."""

from __future__ import annotations

import pytest
import torch

from backpropcli.doctor.probes import (
    batched_grad,
    compile,
    deterministic,
    double_backward,
    forward_ad,
    func_grad,
    func_hessian,
    func_jacrev,
    func_vmap,
    grad_output,
    low_precision,
    non_contiguous,
    non_differentiable_inputs,
    opcheck,
    registry,
    saved_tensors,
    surrogate,
)
from tests.probe_functions import (
    Linear,
    Sigmoid,
    add_in_place,
    context,
    linear,
    linear_reference,
    mse,
    scale_no_fake,
    scale_op,
    sigmoid_reference,
    subject,
    tensor,
    unary,
)


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
    assert ctx.cost.forward_calls == 1 and ctx.cost.backward_calls == 3  # ones, a random v and 1000 v


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


def test_double_backward_is_not_a_tick_when_differences_of_a_wrong_first_derivative_are_its_truth():
    """Without a differentiable truth the second derivative is judged against differences of the
    custom first one; where that is wrong there is nothing to compare with: skipped, never ✓."""
    ctx = context(unary(IgnoresGradOutput), sigmoid_reference, first_ok={"x": False})
    ctx.truth.differentiable_forward = None
    result = double_backward.run(ctx)
    assert result.capability.ok is None and "first derivative is wrong" in result.capability.detail
    assert result.findings == []


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


# ---- non-contiguous -------------------------------------------------------------------------------

class SigmoidRawStorage(Sigmoid):
    @staticmethod
    def forward(x):
        flat = torch.as_strided(x, (x.numel(),), (1,))  # reads memory as if x were contiguous
        return torch.sigmoid(flat).reshape(x.shape)


class SigmoidView(Sigmoid):
    @staticmethod
    def forward(x):
        return torch.sigmoid(x.view(-1)).view(x.shape)  # .view refuses a strided x


def test_non_contiguous_correct_passes_and_bugs_are_named():
    ctx = context(linear(), linear_reference)
    result = non_contiguous.run(ctx)
    assert result.capability.ok is True and result.findings == []
    assert (ctx.cost.forward_calls, ctx.cost.backward_calls) == (3, 2)
    raw = non_contiguous.run(context(unary(SigmoidRawStorage), sigmoid_reference))
    assert raw.capability.ok is False and codes(raw) == ["wrong-non-contiguous"] and inputs_of(raw) == ["x"]
    view = non_contiguous.run(context(unary(SigmoidView), sigmoid_reference))
    assert view.capability.ok is None and codes(view) == ["fails-non-contiguous"]
    assert view.findings[0].severity == "warning"


def test_strided_keeps_values_and_breaks_contiguity():
    x = torch.arange(6.0).reshape(2, 3)
    s = non_contiguous.strided(x)
    assert s is not None and not s.is_contiguous() and torch.equal(s, x)
    assert non_contiguous.strided(torch.ones(1, 1)) is None


# ---- low precision --------------------------------------------------------------------------------

class LinearHalfBackward(Linear):
    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = (g.half() @ w.half().T).to(g.dtype)  # accumulates in float16
        return gx, x.T @ g, g.sum(0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_low_precision_correct_linear_is_as_good_as_autograd(dtype):
    result = low_precision.run(context(linear(rows=16), linear_reference, dtype=dtype))
    assert result.capability.ok is True, result.capability.detail
    assert result.findings == [] and dtype in result.capability.detail
    assert "3×" in result.capability.compared_with


def test_low_precision_names_a_float16_accumulation():
    result = low_precision.run(context(linear(LinearHalfBackward, rows=16), linear_reference, dtype="float32"))
    assert result.capability.ok is False
    assert codes(result) == ["low-precision-error"] and inputs_of(result) == ["x"]
    extra = result.findings[0].extra
    assert extra["k"] == 3.0 and extra["ratio"] > 3 and extra["dtype"] == "float32"
    assert extra["error"] > extra["reference_error"]


def test_low_precision_float64_is_not_a_second_check():
    assert low_precision.run(context(linear(), linear_reference, dtype="float64")).capability.ok is None


# ---- deterministic and saved tensors --------------------------------------------------------------

class Dropout(torch.autograd.Function):
    """Correct: the mask is drawn once, in forward, and saved."""

    @staticmethod
    def forward(x):
        mask = (torch.rand_like(x) > 0.5).to(x.dtype)
        return x * mask * 2, mask

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(output[1])

    @staticmethod
    def backward(ctx, g, _):
        (mask,) = ctx.saved_tensors
        return g * mask * 2


class DropoutRedraws(Dropout):
    @staticmethod
    def backward(ctx, g, _):
        return g * (torch.rand_like(g) > 0.5).to(g.dtype) * 2  # a new mask


class SinModifiesInput(torch.autograd.Function):
    @staticmethod
    def forward(x):
        y = torch.sin(x)
        x.mul_(2)  # no mark_dirty: backward will read 2x
        return y

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.cos(x)


class SinBackwardModifiesSaved(SinModifiesInput):
    @staticmethod
    def forward(x):
        return torch.sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos_()  # overwrites the saved input


def dropout_reference(x):
    return x, torch.zeros_like(x)


def test_deterministic_names_a_mask_drawn_again():
    assert deterministic.run(context(unary(Dropout), dropout_reference)).capability.ok is True
    ctx = context(unary(DropoutRedraws), dropout_reference)
    result = deterministic.run(ctx)
    assert result.capability.ok is False
    assert codes(result) == ["nondeterministic-backward"] and result.findings[0].extra["max_abs_difference"] > 0
    assert (ctx.cost.forward_calls, ctx.cost.backward_calls) == (1, 2)


def test_saved_tensors_names_an_input_modified_after_saving():
    for fn in (Sigmoid, Dropout):
        ok = saved_tensors.run(context(unary(fn), sigmoid_reference))
        assert ok.capability.ok is True and ok.findings == []
    x = tensor(3, 4, seed=5)
    ctx = context(unary(SinModifiesInput, forward=torch.sin), torch.sin)
    result = saved_tensors.run(ctx)
    assert codes(result) == ["saved-tensor-modified"] and inputs_of(result) == ["x"]
    assert result.findings[0].extra["where"] == " in forward"
    assert torch.equal(ctx.subject.inputs[0].value, x) and torch.equal(ctx.leaves["x"].detach(), x)
    result = saved_tensors.run(context(unary(SinBackwardModifiesSaved, forward=torch.sin), torch.sin))
    assert codes(result) == ["saved-tensor-modified"] and result.findings[0].extra["where"] == " by backward"


# ---- non-differentiable inputs and surrogates -----------------------------------------------------

class Gather(torch.autograd.Function):
    @staticmethod
    def forward(x, idx, scale):
        return x[idx] * scale

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, idx, scale = inputs
        ctx.save_for_backward(idx)
        ctx.shape, ctx.scale = x.shape, scale

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        return torch.zeros(ctx.shape, dtype=g.dtype).index_add_(0, idx, g * ctx.scale), None, None


class GatherGradForIndex(Gather):
    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        gx = torch.zeros(ctx.shape, dtype=g.dtype).index_add_(0, idx, g * ctx.scale)
        return gx, torch.zeros_like(idx), None  # autograd drops it silently


def gather(fn):
    return subject(fn, [("x", tensor(5, 3, seed=7), True), ("idx", torch.tensor([0, 2, 2, 4]), False),
                        ("scale", 1.5, False)], forward=lambda x, idx, s: x[idx] * s)


def test_non_differentiable_inputs_names_a_gradient_for_an_index():
    ref = lambda x, idx, s: torch.index_select(x, 0, idx) * s  # noqa: E731
    assert non_differentiable_inputs.run(context(gather(Gather), ref)).capability.ok is True
    result = non_differentiable_inputs.run(context(gather(GatherGradForIndex), ref))
    assert result.capability.ok is False
    assert codes(result) == ["grad-for-non-differentiable-input"] and inputs_of(result) == ["idx"]
    assert "int64" in result.findings[0].extra["why"]
    assert non_differentiable_inputs.run(context(linear(), linear_reference)).capability.ok is None


class GatherAssignsByLayout(Gather):
    """Wrong at the repeated rows (an assignment keeps one write), and which write wins depends on
    the input's layout: CI's threads once did this for grad[index] = g."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        Gather.setup_context(ctx, inputs, output)
        ctx.contiguous = inputs[0].is_contiguous()

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        gx = torch.zeros(ctx.shape, dtype=g.dtype)
        order = range(len(idx)) if ctx.contiguous else reversed(range(len(idx)))
        for i in order:
            gx[idx[i]] = g[i] * ctx.scale
        return gx, None, None


class GatherAssignsRawStorage(GatherAssignsByLayout):
    """The same assignment, and a forward that reads x's memory as if it were contiguous: wrong
    also at rows the index does not repeat once x is strided."""

    @staticmethod
    def forward(x, idx, scale):
        return torch.as_strided(x, x.shape, (x.shape[1], 1))[idx] * scale


def test_non_contiguous_blames_the_layout_only_where_the_contiguous_gradient_is_right():
    ref = lambda x, idx, s: torch.index_select(x, 0, idx) * s  # noqa: E731
    layout = non_contiguous.run(context(gather(GatherAssignsByLayout), ref, first_ok={"x": False}))
    assert layout.capability.ok is True and layout.findings == []
    raw = non_contiguous.run(context(gather(GatherAssignsRawStorage), ref, first_ok={"x": False}))
    assert raw.capability.ok is False and codes(raw) == ["wrong-non-contiguous"] and inputs_of(raw) == ["x"]


class SignStraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return torch.sign(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        return g


def test_surrogate_straight_through_is_a_warning_only():
    ctx = context(unary(SignStraightThrough, forward=torch.sign), torch.sign, first_ok={"x": False})
    result = surrogate.run(ctx)
    assert codes(result) == ["surrogate-gradient"] and result.findings[0].severity == "warning"
    assert result.findings[0].extra["surrogate"].startswith("a straight-through estimator")
    assert result.capability.ok is None
    # a wrong gradient of a smooth forward is not a surrogate
    wrong = surrogate.run(context(unary(IgnoresGradOutput), sigmoid_reference, first_ok={"x": False}))
    assert wrong.findings == [] and wrong.capability.ok is True
    assert surrogate.run(context(unary(Sigmoid), sigmoid_reference)).capability.ok is True


def test_non_contiguous_does_not_compare_a_random_forward():
    result = non_contiguous.run(context(unary(Dropout), dropout_reference))
    assert result.capability.ok is None and result.findings == []


# ---- compile and opcheck --------------------------------------------------------------------------

class SigmoidOtherUnderCompile(Sigmoid):
    """Stands for PyTorch changing a custom backward under compile: traced, setup_context sees
    is_compiling() and the compiled backward is half the eager one."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.k = 0.5 if torch.compiler.is_compiling() else 1.0

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return g * s * (1 - s) * ctx.k


def test_compile_runs_only_when_asked_and_compares_with_eager():
    assert compile.run(context(linear(), linear_reference)).capability.ok is None
    ctx = context(unary(Sigmoid), sigmoid_reference, compile=True, compile_backend="aot_eager")
    result = compile.run(ctx)
    assert result.capability.ok is True, result.capability.detail
    assert result.capability.compared_with.startswith("eager")
    bad = compile.run(context(unary(SigmoidOtherUnderCompile), sigmoid_reference, compile=True,
                              compile_backend="aot_eager"))
    assert codes(bad) == ["compiled-gradient-differs"] and inputs_of(bad) == ["x"]
    fails = compile.run(context(unary(Sigmoid), sigmoid_reference, compile=True, compile_backend="no-such"))
    assert fails.capability.ok is None and codes(fails) == ["compile-fails"]


def test_opcheck_lists_its_tests_and_names_a_failure():
    assert opcheck.run(context(linear(), linear_reference)).capability is None  # not a custom op
    good = opcheck.run(context(subject(scale_op, [("x", tensor(3, 4), True), ("a", 2.0, False)], kind="callable"),
                               lambda x, a: x * a))
    assert good.capability.ok is True and "test_faketensor" in good.capability.detail
    bad = opcheck.run(context(subject(scale_no_fake, [("x", tensor(3, 4), True), ("a", 2.0, False)],
                                      kind="callable"), lambda x, a: x * a))
    assert bad.capability.ok is False and "opcheck-fails" in codes(bad)
    assert "test_faketensor" in [f.extra["test"] for f in bad.findings]
    assert all(f.severity == "warning" for f in bad.findings)


# ---- the registry: every probe on every kind of subject, never a crash, never a false error ------

def test_registry_lists_every_probe_once_in_order():
    assert len(set(registry.NAMES)) == len(registry.PROBES) == 16
    assert registry.NAMES[:2] == ("grad-output", "double-backward") and registry.NAMES[-1] == "opcheck"
    assert all(callable(p.run) for p in registry.PROBES)


def _callable_subject():
    subj = subject(lambda x, w, b: torch.tanh(x @ w + b),
                   [("x", tensor(4, 3, seed=1), True), ("w", tensor(3, 2, seed=2), True),
                    ("b", tensor(2, seed=3), True)],
                   kind="callable")
    return subj, lambda x, w, b: torch.tanh(torch.einsum("ij,jk->ik", x, w) + b)


def _old_style():
    subj = linear(LinearOldStyle)
    subj.kind = "function-ctx"
    return subj, linear_reference


CORRECT = {"linear": lambda: (linear(), linear_reference), "old-style": _old_style, "callable": _callable_subject,
           "gather": lambda: (gather(Gather), lambda x, idx, s: torch.index_select(x, 0, idx) * s),
           "sigmoid": lambda: (unary(Sigmoid), sigmoid_reference), "0-d loss": mse, "mark_dirty": add_in_place}


@pytest.mark.parametrize("which", CORRECT)
def test_every_probe_passes_correct_functions_without_an_error(which):
    subj, ref = CORRECT[which]()
    ctx = context(subj, ref)
    results = [p.run(ctx) for p in registry.PROBES]
    rows, findings = registry.merge(results)
    assert [f for f in findings if f.severity == "error"] == []
    assert all(r.ok is not False for r in rows), [r for r in rows if r.ok is False]
    assert len({(f.code, f.input) for f in findings}) == len(findings)  # said once
    assert ctx.cost.forward_calls <= 25 and ctx.cost.backward_calls <= 25


def test_hessian_by_differences_without_a_differentiable_truth():
    good = context(unary(Sigmoid), sigmoid_reference)
    good.truth.differentiable_forward = None
    result = func_hessian.run(good)
    assert result.capability.ok is True and "differences" in result.capability.compared_with
    bad = context(unary(SigmoidSavedIntermediate), sigmoid_reference)
    bad.truth.differentiable_forward = None
    assert func_hessian.run(bad).capability.ok is False


def test_probes_leave_the_callers_random_state_and_inputs_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    subj = unary(Dropout)
    before = subj.inputs[0].value.clone()
    for probe in (deterministic, non_contiguous, saved_tensors, grad_output):
        probe.run(context(subj, dropout_reference))
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(subj.inputs[0].value, before)
