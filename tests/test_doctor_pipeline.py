"""The tensor doctor's pipeline on Functions of every shape: many inputs, index and Python
arguments, tuple outputs with an int output, 0-d losses, mark_dirty, kwargs, a plain callable.
Each truth is confirmed independently: a correct Function passes, a wrong one is FAILED on the
input that is wrong, and the raw gradients backward returned are what classify sees."""

import pytest
import torch

from backpropcli.doctor import build, products
from backpropcli.doctor import truth as truths
from backpropcli.doctor.diagnose import diagnose
from backpropcli.doctor.results import Cost
from backpropcli.errors import InputError

# the warnings that say a capability torch offers is not implemented (the probes): beside the point here
CAPABILITY = {"no-setup-context", "no-jvp", "no-vmap-rule", "no-batched-grad", "not-twice-differentiable"}


def _said(result):
    return [f for f in result.findings if f.code not in CAPABILITY]


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _t(*shape, seed=0, grad=True):
    return torch.randn(*shape, generator=_gen(seed), dtype=torch.float64).requires_grad_(grad)


class Linear(torch.autograd.Function):
    """y = x Wᵀ + b: dx = g W, dW = gᵀ x, db = Σ_rows g."""

    @staticmethod
    def forward(x, weight, bias):
        return x @ weight.T + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _ = inputs
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return g @ weight, g.T @ x, g.sum(0)


class LinearTransposedW(Linear):
    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return g @ weight, x.T @ g, g.sum(0)  # dW transposed: right shape for a square W, wrong values


def linear_inputs(n=3, d=4):
    return _t(n, d, seed=1), _t(d, d, seed=2), _t(d, seed=3)


def test_a_correct_linear_layer_passes():
    result = diagnose(build.subject_of(Linear, linear_inputs))
    assert result.ok and _said(result) == []
    assert [r.name for r in result.inputs] == ["x", "weight", "bias"]
    assert all(r.ok for r in result.inputs)
    assert result.truth == truths.AUTOGRAD
    assert result.elementwise is False
    assert result.cost.forward_calls > 0 and result.cost.backward_calls > 0


def test_a_transposed_weight_gradient_is_found_on_weight_only():
    result = diagnose(build.subject_of(LinearTransposedW, linear_inputs))
    assert not result.ok
    rows = {r.name: r for r in result.inputs}
    assert rows["weight"].ok is False and rows["x"].ok and rows["bias"].ok
    assert [(f.code, f.input) for f in result.errors] == [("transposed", "weight")]
    assert rows["weight"].max_abs_error > 0.1 and rows["weight"].pattern == "transposed"


def test_the_linear_layer_at_256_is_cheap_and_the_transpose_is_found():
    """The issue's benchmark size: every call counted, no dense Jacobian (cost independent of numel)."""
    big = diagnose(build.subject_of(LinearTransposedW, lambda: linear_inputs(64, 256)))
    small = diagnose(build.subject_of(LinearTransposedW, linear_inputs))
    assert [(f.code, f.input) for f in big.errors] == [("transposed", "weight")]
    assert big.cost.forward_calls == small.cost.forward_calls
    assert big.cost.backward_calls == small.cost.backward_calls
    assert diagnose(build.subject_of(Linear, lambda: linear_inputs(64, 256))).ok


class Softmax(torch.autograd.Function):
    """Row-wise softmax s: dx = s ⊙ (g − ⟨g, s⟩_row). Not elementwise."""

    @staticmethod
    def forward(x, dim):
        return torch.softmax(x, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.dim = inputs[1]

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return s * (g - (g * s).sum(ctx.dim, keepdim=True)), None


class LogSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return x - x.logsumexp(-1, keepdim=True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g - y.exp() * g.sum(-1, keepdim=True)


class Cumsum(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return x.cumsum(0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        return g.flip(0).cumsum(0).flip(0)


class Square(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return x * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


@pytest.mark.parametrize("fn, inputs", [
    (Softmax, lambda: (_t(6, 10), -1)),
    (LogSoftmax, lambda: (_t(5, 7),)),
    (Cumsum, lambda: (_t(9),)),
])
def test_correct_non_elementwise_functions_pass(fn, inputs):
    result = diagnose(build.subject_of(fn, inputs))
    assert result.ok and _said(result) == [], result.findings
    assert result.elementwise is False


def test_elementwise_is_detected():
    assert diagnose(build.subject_of(Square, (_t(4, 3),))).elementwise is True
    assert diagnose(build.subject_of(Cumsum, (_t(9),))).elementwise is False


class SoftmaxWrongSign(Softmax):
    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return -s * (g - (g * s).sum(ctx.dim, keepdim=True)), None


def test_a_wrong_softmax_fails_on_x():
    result = diagnose(build.subject_of(SoftmaxWrongSign, lambda: (_t(6, 10), -1)))
    assert [(f.code, f.input) for f in result.errors] == [("sign-flipped", "x")]
    rows = {r.name: r for r in result.inputs}
    assert rows["dim"].differentiable is False and rows["dim"].ok is None


class MSELoss(torch.autograd.Function):
    """A 0-d loss with an int-free target: L = mean((p − t)²), dp = 2 (p − t) g / n."""

    @staticmethod
    def forward(pred, target):
        return ((pred - target) ** 2).mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, g):
        pred, target = ctx.saved_tensors
        return 2 * (pred - target) * g / pred.numel(), None


class MSELossSum(MSELoss):
    @staticmethod
    def backward(ctx, g):
        pred, target = ctx.saved_tensors
        return 2 * (pred - target) * g, None  # the gradient of the sum: off by numel


def test_a_zero_d_loss():
    inputs = lambda: (_t(4, 5), _t(4, 5, seed=9, grad=False))  # noqa: E731
    assert diagnose(build.subject_of(MSELoss, inputs)).ok
    wrong = diagnose(build.subject_of(MSELossSum, inputs))
    assert [(f.code, f.input) for f in wrong.errors] == [("scaled-by", "pred")]
    assert wrong.errors[0].extra["factor"] == pytest.approx(20)  # the sum's gradient: numel = 20 times the mean's


class TopValues(torch.autograd.Function):
    """(values, indices) of the max along the last dim: an int output gets no gradient."""

    @staticmethod
    def forward(x):
        values, indices = x.max(-1)
        return values, indices

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(output[1])
        ctx.shape = inputs[0].shape

    @staticmethod
    def backward(ctx, g, _g_indices):
        (indices,) = ctx.saved_tensors
        out = torch.zeros(ctx.shape, dtype=g.dtype)
        return out.scatter(-1, indices.unsqueeze(-1), g.unsqueeze(-1))


def test_a_tuple_output_with_an_int_output():
    result = diagnose(build.subject_of(TopValues, (_t(3, 5),)))
    assert result.ok, result.findings


class AddOneInPlace(torch.autograd.Function):
    """x.add_(1) in place, marked dirty: the gradient passes through unchanged."""

    @staticmethod
    def forward(x):
        x.add_(1)
        return x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_dirty(inputs[0])

    @staticmethod
    def backward(ctx, g):
        return g


class DoubleInPlaceWrong(AddOneInPlace):
    @staticmethod
    def forward(x):
        x.mul_(2)
        return x


def test_mark_dirty_runs_on_clones():
    x = _t(3, 4)
    before = x.detach().clone()
    result = diagnose(build.subject_of(AddOneInPlace, (x,)))
    assert result.ok, result.findings
    assert torch.equal(x.detach(), before) and x.grad is None  # the user's tensor is untouched
    assert not diagnose(build.subject_of(DoubleInPlaceWrong, (_t(3, 4),))).ok


class Scale(torch.autograd.Function):
    """y = alpha · x with alpha a keyword Python float."""

    @staticmethod
    def forward(x, alpha=1.0):
        return alpha * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.alpha = inputs[1]

    @staticmethod
    def backward(ctx, g):
        return ctx.alpha * g, None


class ScaleForgetsAlpha(Scale):
    @staticmethod
    def backward(ctx, g):
        return g, None


def test_keyword_inputs():
    subject = build.subject_of(Scale, {"x": _t(5), "alpha": 3.0})
    assert subject.names == ("x", "alpha") and subject.differentiable == ("x",)
    assert diagnose(subject).ok
    wrong = diagnose(build.subject_of(ScaleForgetsAlpha, {"x": _t(5), "alpha": 3.0}))
    assert not wrong.ok and wrong.elementwise is True


def good_callable(x, w):
    return torch.tanh(x @ w).sum(-1)


def detaching_callable(x, w):
    return torch.tanh(x @ w.detach()).sum(-1)  # autograd never sees w: its gradient is lost


def test_a_plain_callable_is_judged_by_finite_differences():
    inputs = lambda: (_t(3, 4), _t(4, 2, seed=5))  # noqa: E731
    result = diagnose(build.subject_of(good_callable, inputs))
    assert result.ok and result.truth == truths.FINITE and result.kind == "callable"
    wrong = diagnose(build.subject_of(detaching_callable, inputs))
    assert not wrong.ok and {f.input for f in wrong.errors} == {"w"}


class NumpyForward(torch.autograd.Function):
    """forward through numpy: autograd cannot trace it, the truth is finite differences."""

    @staticmethod
    def forward(x):
        return torch.from_numpy(x.detach().numpy() ** 3)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


def test_an_untraceable_forward_falls_back_to_differences():
    result = diagnose(build.subject_of(NumpyForward, (_t(4, 3),)))
    assert result.ok and result.truth == truths.FINITE


def test_raw_gradients_are_recorded_before_autograd_validates_them():
    class UnsummedBias(Linear):
        @staticmethod
        def backward(ctx, g):
            x, weight = ctx.saved_tensors
            return g @ weight, g.T @ x, g  # (n, d): autograd would sum it to (d,) silently

    subject = build.subject_of(UnsummedBias, linear_inputs)
    raw: list = []
    run = products.counted(subject, Cost(), raw)
    leaves = run.leaves(torch.float64)
    outputs = run.call(leaves)
    got = products.custom_vjp(run, raw, leaves, (torch.ones(3, 4, dtype=torch.float64),))
    assert tuple(got.grads["bias"].shape) == (3, 4)
    assert tuple(got.grads["weight"].shape) == (4, 4) and outputs[0].shape == (3, 4)


def test_inputs_that_do_not_fit_are_a_usage_error():
    with pytest.raises(InputError, match="do not fit"):
        build.subject_of(Linear, (_t(3, 4),))
    with pytest.raises(InputError, match="differentiable"):
        build.subject_of(Linear, (_t(3, 4, grad=False), _t(4, 4, grad=False), _t(4, grad=False)))


# ---- wrong verdicts the gallery found (small versions) ------------------------------------------
def _errors(result):
    return sorted((f.code, f.input) for f in result.errors)


class LeakyReLU(torch.autograd.Function):
    """Piecewise linear with a kink at 0: differences with the extrapolated step straddle it."""

    @staticmethod
    def forward(x, slope):
        return torch.where(x > 0, x, x * slope)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.slope = inputs[1]

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, g, g * ctx.slope), None


class LeakyReLUForgetsSlope(LeakyReLU):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0), None


def test_autograd_through_a_kinked_forward_is_trusted_and_a_correct_leaky_relu_passes():
    # 16×64 standard normal elements: ~25 lie within the extrapolated step of the kink at 0
    result = diagnose(build.subject_of(LeakyReLU, lambda: (_t(16, 64, seed=12), 0.1)))
    assert result.truth == truths.AUTOGRAD and _errors(result) == []
    wrong = diagnose(build.subject_of(LeakyReLUForgetsSlope, lambda: (_t(16, 64, seed=12), 0.1)))
    assert _errors(wrong) == [("wrong-at-points", "x")]


class MaxWithIndex(torch.autograd.Function):
    @staticmethod
    def forward(x, dim):
        return torch.max(x, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(output[1])
        ctx.dim, ctx.shape = inputs[1], inputs[0].shape

    @staticmethod
    def backward(ctx, g, _):
        (i,) = ctx.saved_tensors
        return g.new_zeros(ctx.shape).scatter(ctx.dim, i.unsqueeze(ctx.dim), g.unsqueeze(ctx.dim)), None


def test_max_with_its_argmax_gets_autograds_truth():
    result = diagnose(build.subject_of(MaxWithIndex, lambda: (_t(16, 64, seed=22), 1)))
    assert result.truth == truths.AUTOGRAD and _errors(result) == []


class ReluInPlace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        x.clamp_(min=0)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y > 0).to(g.dtype)


def test_an_in_place_forward_leaves_the_doctors_inputs_intact():
    # forward runs under no_grad: clamp_ overwrites the leaf before autograd refuses it
    result = diagnose(build.subject_of(ReluInPlace, lambda: (_t(4, 8, seed=21),)))
    assert result.truth == truths.AUTOGRAD and _errors(result) == []


class Dropout(torch.autograd.Function):
    @staticmethod
    def forward(x, p):
        mask = (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)
        return x * mask, mask

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(output[1])

    @staticmethod
    def backward(ctx, g, _):
        (mask,) = ctx.saved_tensors
        return g * mask, None


class DropoutRedrawsMask(torch.autograd.Function):
    @staticmethod
    def forward(x, p):
        return x * (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.p = inputs[1]

    @staticmethod
    def backward(ctx, g):
        return g * (torch.rand_like(g) >= ctx.p).to(g.dtype) / (1 - ctx.p), None


def test_a_random_forward_draws_the_same_numbers_in_every_call():
    state = torch.random.get_rng_state()
    result = diagnose(build.subject_of(Dropout, lambda: (_t(8, 16, seed=15), 0.25)))
    assert _errors(result) == []
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's generator is left alone
    redraws = diagnose(build.subject_of(DropoutRedrawsMask, lambda: (_t(8, 16, seed=15), 0.25)))
    assert _errors(redraws) == [("nondeterministic-backward", "x")]


class ExpSavedThenModified(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.exp_().clone()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.exp(x)


def test_a_saved_input_overwritten_in_forward_is_named_once():
    result = diagnose(build.subject_of(ExpSavedThenModified, lambda: (_t(4, 8, seed=16),)))
    assert _errors(result) == [("saved-tensor-modified", "x")]
    assert result.truth == truths.AUTOGRAD


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return torch.round(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        return g


def test_a_straight_through_estimator_is_a_warning_only():
    result = diagnose(build.subject_of(RoundSTE, lambda: (_t(16, 64, seed=3) * 3,)))
    assert result.ok and _errors(result) == []
    assert "surrogate-gradient" in result.codes


def test_tidy_says_each_finding_once_and_wrong_at_most_points_is_wrong_gradient():
    from backpropcli.doctor.results import Finding, InputReport
    from backpropcli.doctor.tidy import tidy

    most = Finding("wrong-at-points", "q", extra={"count": 90, "total": 100, "condition": None,
                                                   "max_abs_error": 1.0, "worst_index": (0,)})
    few = Finding("wrong-at-points", "k", extra={"count": 10, "total": 100, "condition": None})
    cond = Finding("wrong-at-points", "v", extra={"count": 90, "total": 100, "condition": {"input": "v"}})
    reports = [InputReport("q", (100,), "float64", True, False, pattern="wrong-at-points")]
    kept = tidy([most, few, cond, Finding("no-jvp"), Finding("no-jvp")], reports)
    assert [(f.code, f.input) for f in kept] == [("wrong-gradient", "q"), ("wrong-at-points", "k"),
                                                ("wrong-at-points", "v"), ("no-jvp", None)]
    assert reports[0].pattern == "wrong-gradient"


def test_a_cotangent_never_repeats_an_input_drawn_from_seed_zero():
    """make_inputs drawing x under manual_seed(0) once made the doctor's cotangent equal x: then a
    transposed grad_W (xᵀv = xᵀx, symmetric) matched the truth on every element."""
    def inputs():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(16, 16, generator=g, dtype=torch.float64).requires_grad_()
        w = torch.randn(16, 16, generator=g, dtype=torch.float64).requires_grad_()
        return x, w, torch.zeros(16, dtype=torch.float64, requires_grad=True)

    result = diagnose(build.subject_of(LinearTransposedW, inputs))
    assert _errors(result) == [("transposed", "weight")]


class ChannelScaleWrongDims(torch.autograd.Function):
    """y = x·scale[c] + shift[c] on (N, C, L); the sums written for channels-last, over (0, 1)."""

    @staticmethod
    def forward(x, scale, shift):
        return x * scale[:, None] + shift[:, None]

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])

    @staticmethod
    def backward(ctx, g):
        x, scale = ctx.saved_tensors
        return g * scale[:, None], (g * x).sum((0, 1)), g.sum((0, 1))


def test_a_gradient_summed_over_the_wrong_broadcast_dims_is_named():
    # C = L: the wrong sum has the right shape; the right dims (0, 2) are not torch's trailing ones
    result = diagnose(build.subject_of(ChannelScaleWrongDims, lambda: (_t(2, 4, 4, seed=1), _t(4, seed=2),
                                                                       _t(4, seed=3))))
    assert _errors(result) == [("missing-broadcast-sum", "scale"), ("missing-broadcast-sum", "shift")]
    assert next(f for f in result.errors if f.input == "scale").extra["dims"] == [0, 2]


class _Product(torch.autograd.Function):
    """x * w with both inputs of one shape (so the elementwise test would run)."""

    @staticmethod
    def forward(x, w):
        return x * w

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)


class _Unwritten(_Product):
    @staticmethod
    def backward(ctx, g):
        raise ValueError("not written yet")


class _OneGradientForTwo(_Product):
    @staticmethod
    def backward(ctx, g):
        _, w = ctx.saved_tensors
        return g * w  # forgot w's


@pytest.mark.parametrize("fn, code", [(_Unwritten, "backward-raises"),
                                      (_OneGradientForTwo, "wrong-number-of-gradients")])
def test_a_backward_with_nothing_to_compare_is_one_finding_for_the_function(fn, code):
    """A first draft of backward that raises, or returns too few gradients: one finding about the
    Function, every input wrong in the table, no elementwise guess and no probe — never a crash."""
    result = diagnose(build.subject_of(fn, (_t(4, 3, seed=1), _t(4, 3, seed=2))))
    assert not result.ok and [f.code for f in result.findings] == [code]
    assert result.findings[0].input is None
    assert [(r.ok, r.pattern) for r in result.inputs] == [(False, code)] * 2
    assert result.elementwise is None and result.capabilities == []
    if code == "wrong-number-of-gradients":
        assert result.findings[0].extra["got"] == 1 and result.findings[0].extra["expected"] == 2


class _Divide(torch.autograd.Function):
    """a / b, correct: d/da = 1/b, d/db = -a/b²."""

    @staticmethod
    def forward(a, b):
        return a / b

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g / b, -g * a / (b * b)


class _DivideWrongB(_Divide):
    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g / b, g * a / (b * b)  # the sign of d/db lost


class _ReluAtZero(torch.autograd.Function):
    """max(x, 0) with torch.relu's convention at the kink (0 at x = 0); forward through clamp, whose
    autograd says 1 there, and central differences say 1/2: no derivative exists at 0."""

    @staticmethod
    def forward(x):
        return x.clamp(min=0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0).to(g.dtype)


def _divide_inputs():
    a = torch.tensor([0.3, -1.2, 0.7, 2.0, -0.4], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([1e-6, -1e-7, 2.0, 1e-4, -3e-5], dtype=torch.float64, requires_grad=True)
    return a, b


def test_where_autograd_and_differences_disagree_nothing_is_judged_and_that_is_said():
    """Tiny denominators (a step too large for them) and a kink: the two truths disagree at some
    elements, which are not judged (truth-uncertain), so a correct Function is never FAILED — and a
    wrong one is still FAILED on the elements both truths agree on."""
    right = diagnose(build.subject_of(_Divide, _divide_inputs()))
    assert right.ok, [(f.code, f.input) for f in right.findings]
    assert "truth-uncertain" in right.codes
    wrong = diagnose(build.subject_of(_DivideWrongB, _divide_inputs()))
    assert not wrong.ok and any(f.input == "b" and f.severity == "error" for f in wrong.findings)
    relu = diagnose(build.subject_of(_ReluAtZero, (torch.tensor([-2., -1., 0., 0., 1., 2.], dtype=torch.float64,
                                                                requires_grad=True),)))
    assert relu.ok, [(f.code, f.input) for f in relu.findings]


class _SinClippedGradOutput(torch.autograd.Function):
    """sin with a backward that clips grad_output to ±6: right for every small grad_output."""

    @staticmethod
    def forward(x):
        return x.sin()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.clamp(-6, 6) * x.cos()


def test_a_backward_not_linear_in_a_large_grad_output_is_found():
    """Random cotangents of size ~1 never reach the clip; 1000 times one does."""
    result = diagnose(build.subject_of(_SinClippedGradOutput, (_t(8, 16) * 2,)))
    assert not result.ok
    assert [(f.code, f.input) for f in _said(result)] == [("grad-output-misused", "x")]
