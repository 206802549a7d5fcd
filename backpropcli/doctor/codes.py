"""The registry of finding codes: the only place a code's text lives.

One entry per code, like a linter's rule registry: its severity, a message and a fix as
templates, and a short doc. A probe emits ``Finding(code, input=..., extra={...})`` with raw
numbers in ``extra``; the presenter fills the templates (present/findings.py), so numbers become
words in one place. docs/check-codes.md is generated from this table, and a test fails when a
code is emitted that the registry lacks. grad and hessian say their codes about points
(not-real, undefined-here, not-differentiable, truth-uncertain, numerical-truth, nothing-checked)
from the same entries: ``points_message``.

Severity: "error" means a gradient (first derivative, reverse or forward mode) is wrong, so the
verdict is FAILED; "warning" is something to know that does not make a number wrong (a missing
capability, a surrogate gradient, a second derivative); "info" is said and never counts.

Template fields: ``{input}`` (the input's name), ``{output}``, and any key of the finding's
``extra``; a field the presenter cannot fill is left as the key's name in braces, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Code:
    code: str
    severity: str
    message: str  # template
    fix: str  # template
    doc: str  # one or two sentences for docs/check-codes.md
    # the message where grad or hessian says the code about points ({n} of them, e.g. {at}; {note});
    # "" for a code only check emits
    points_message: str = ""


def _codes(*entries: Code) -> dict[str, Code]:
    table = {c.code: c for c in entries}
    assert len(table) == len(entries), "a code is registered twice"
    assert all(c.severity in SEVERITIES for c in entries)
    return table


CODES: dict[str, Code] = _codes(
    # ---- the gradient itself (errors) -------------------------------------------------------
    Code("backward-raises", "error",
         "backward raised {error}",
         "fix the exception in backward (the line is given)",
         "The hand-written backward raised an exception when called with a random grad_output."),
    Code("wrong-number-of-gradients", "error",
         "backward returns {got} gradient{s_got}; forward takes {expected} input{s_expected} ({names})",
         "return one gradient per input of forward, in its order, None for an input that takes none",
         "backward must return exactly one value per argument of forward; autograd refuses any other "
         "count, so nothing else about the gradients can be judged."),
    Code("wrong-shape", "error",
         "the gradient for {input} has shape {got}, the input has shape {want}{transpose_note}",
         "return a gradient of exactly {input}'s shape {want}",
         "A gradient whose shape differs from its input's. When it is the input's shape transposed, "
         "the finding says so."),
    Code("transposed", "error",
         "the gradient for {input} is the true gradient transposed",
         "return {hint}",
         "The gradient equals the truth with its last two dimensions swapped (a square input, so the "
         "shape alone does not show it), e.g. grad_output.T @ x where x.T @ grad_output was meant."),
    Code("missing-broadcast-sum", "error",
         "the gradient for {input} is not summed over the broadcast dimension{s} {dims}",
         "sum over dim {dims}: {hint}",
         "A broadcast input's gradient must be summed over the dimensions it was broadcast along. "
         "Returned unsummed, or summed over the wrong dimension, it is wrong; when the shape is "
         "right for autograd to sum it silently, the finding says so."),
    Code("scaled-by", "error",
         "the gradient for {input} is the truth times {factor_text}{meaning}",
         "{fix_hint}",
         "Custom = factor × truth everywhere, with the factor named when it means something: the "
         "number of elements (a sum's gradient where the forward takes a mean, or the reverse), the "
         "batch size, or the value of a parameter."),
    Code("sign-flipped", "error",
         "the gradient for {input} has the wrong sign everywhere",
         "negate it (look for a subtraction written the wrong way round)",
         "Custom = −truth at every element."),
    Code("returns-zero", "error",
         "the gradient for {input} is zero where the truth is not",
         "compute the gradient instead of returning zeros (or return None only for an input that "
         "takes no gradient)",
         "The backward returns zeros (or None, which autograd turns into zeros) for an input that "
         "has a non-zero gradient."),
    Code("ignores-grad-output", "error",
         "the gradient for {input} does not depend on grad_output",
         "multiply by grad_output (the chain rule): the gradient is grad_output times the local "
         "derivative",
         "Two different grad_outputs give the same gradient: the backward returns the local "
         "derivative alone, correct only when the caller's grad_output is all ones."),
    Code("grad-output-misused", "error",
         "the gradient for {input} is right for grad_output = ones but wrong for other grad_outputs",
         "apply grad_output elementwise to the local derivative (not summed, not broadcast "
         "differently)",
         "The backward uses grad_output, but not as the chain rule does."),
    Code("swapped-gradients", "error",
         "the gradient returned for {input} is the true gradient of {other}",
         "return the gradients in forward's argument order ({order})",
         "Input A's gradient is returned in B's place; backward's return order must follow forward's "
         "parameters."),
    Code("shifted", "error",
         "the gradient for {input} is off by each element's own term ({direction})",
         "{hint}",
         "Custom = truth ∓ the element's own contribution: an exclusive scan where an inclusive one "
         "is needed (or the reverse), an off-by-one in a cumulative sum."),
    Code("wrong-at-points", "error",
         "the gradient for {input} is wrong at {count} of {total} element{s_total}{condition_text}",
         "{hint}",
         "The gradient is right at most elements and wrong at some; the finding lists the worst and "
         "the condition they share when there is one (exactly where x < 0, exactly the rows an index "
         "repeats)."),
    Code("wrong-gradient", "error",
         "the gradient for {input} is wrong (max abs error {max_abs_error} at {worst_index})",
         "compare the backward with the derivative of forward, term by term",
         "The gradient disagrees with the truth in no pattern the checker recognises."),
    Code("changed-in-place", "error",
         "the gradient for {input} was right when written, then changed in place {when} (a tensor read "
         "from grads is the one stored there, not a copy)",
         "change a copy instead: g = grads['{input}'].clone() before changing g in place",
         "A hand-written backward (manual) wrote a right gradient, then changed that same tensor in place "
         "(g = grads['a']; g[m] = 0), so what it holds at the end is wrong."),
    Code("replaced-not-added", "error",
         "grads['{input}'] is written {count} times and each write replaces the one before; their sum is "
         "the true gradient ({input} is used in more than one place in forward)",
         "add each later part to it: grads['{input}'] += …",
         "A hand-written backward (manual) writes a gradient in parts, each write replacing the last, "
         "where forward uses the tensor more than once and its gradient is the sum of the parts."),
    Code("nan-where-finite", "error",
         "the gradient for {input} is not finite at {count} element{s_count} where the truth is",
         "guard the division or log in backward at those elements",
         "The backward produces nan or inf where the true gradient is finite."),
    Code("wrong-jvp", "error",
         "forward-mode AD (jvp) gives a wrong derivative for {input}",
         "fix the Function's jvp: it must return J·tangent",
         "The Function's jvp disagrees with the truth."),
    Code("wrong-non-contiguous", "error",
         "the gradient for {input} is wrong when the input is not contiguous",
         "call .contiguous() before using raw strides or data pointers",
         "With a transposed or strided view as input, the gradient differs from the contiguous one."),
    Code("grad-for-non-differentiable-input", "error",
         "backward returns a gradient for {input}, which takes none ({why})",
         "return None in {input}'s place",
         "A gradient returned for an int/bool tensor or a Python value: autograd rejects it or "
         "silently drops it; return None."),
    Code("nondeterministic-backward", "error",
         "two identical backward calls give different gradients for {input} (max difference "
         "{max_abs_difference})",
         "save what the backward needs (a dropout mask, the random state) in forward instead of "
         "drawing it again",
         "The same forward and grad_output, backward called twice, differ."),
    Code("saved-tensor-modified", "error",
         "{input} is saved for backward and then modified in place{where}",
         "clone before modifying, or declare it with ctx.mark_dirty",
         "An input saved in forward and overwritten in place without mark_dirty makes the backward "
         "read the new values."),
    Code("low-precision-error", "error",
         "in {dtype}, the gradient for {input} is {ratio_text}× as far from the float64 truth as "
         "autograd's own {dtype} gradient through forward (allowed: {k}×)",
         "accumulate in float32 or compute the gradient the way forward is computed",
         "With --dtype float32/bfloat16/float16, the custom gradient's error against a float64 truth "
         "is judged relative to the same computation done by autograd in that dtype."),
    Code("compiled-gradient-differs", "error",
         "under torch.compile the gradient for {input} differs from eager's",
         "report it to PyTorch with the Function; meanwhile mark the call with torch.compiler.disable",
         "With --compile, the compiled Function's gradient must equal eager's (PyTorch has dropped "
         "custom backwards under compile)."),
    # ---- what was not checked / what to know (warnings) --------------------------------------
    Code("nothing-checked", "warning",
         "nothing could be checked: {why}",
         "give inputs where the Function and its gradient are finite",
         "No input had a finite truth, so nothing was verified; the verdict is not ok (also grad and "
         "hessian, where no point has a truth).",
         points_message="no point could be checked, so nothing was verified"),
    Code("truth-uncertain", "warning",
         "the truth for {input} is not certain at {count} element(s), which are not judged: {why}",
         "give --reference FILE.py:fn, a plain-torch implementation with the same signature",
         "Autograd through forward and the finite differences disagree, or forward is not "
         "traceable and the finite differences are not converged. In grad and hessian: the symbolic "
         "and the numerical truth disagree, or the numerical one does not settle.",
         points_message="the truth is uncertain at {n} point(s), e.g. {at}: not judged"),
    # ---- grad and hessian: points without a truth ---------------------------------------------
    Code("not-real", "warning",
         "f is not real at {n} point(s), e.g. {at}: not checked",
         "give points inside f's domain",
         "grad, hessian: f is complex at these points (sqrt(-1), log(-1)), or real there but not on "
         "either side; they are counted apart, not judged.",
         points_message="f is not real at {n} point(s), e.g. {at}: not checked"),
    Code("undefined-here", "warning",
         "f has no finite value or limit at {n} point(s), e.g. {at}: not checked",
         "give points where f is finite",
         "grad, hessian: a pole, or limits that differ by side; the points are counted apart.",
         points_message="f has no finite value or limit at {n} point(s), e.g. {at}: not checked"),
    Code("not-differentiable", "warning",
         "the derivative does not exist at {n} point(s), e.g. {at}: not checked",
         "nothing, if the kink is f's own (autograd's value there is a subgradient convention)",
         "grad, hessian: f is continuous but has no derivative (a kink, a cusp, a one-sided edge); "
         "the one-sided values are shown, and the points are not judged.",
         points_message="the derivative does not exist at {n} point(s), e.g. {at}: not checked"),
    Code("value-differs", "warning",
         "forward's value differs from the reference's (max abs difference {max_abs_difference})",
         "check forward against the reference first; the gradients were judged against the reference",
         "The Function's output differs from the --reference implementation's."),
    Code("dtype-changed", "warning",
         "{what} is {got} for {want} inputs",
         "return tensors of the input's dtype",
         "An output or gradient comes back in a different dtype from its input."),
    Code("unsummed-broadcast-autograd-sums", "warning",
         "the gradient for {input} has the broadcast shape {got}; autograd sums it to {want} for you",
         "sum it yourself over dim {dims} so the backward is right on its own",
         "Eager autograd silently reduces a gradient of the broadcast shape; the result is right, "
         "but other callers (torch.func, a manual chain rule) get the unsummed tensor."),
    Code("surrogate-gradient", "warning",
         "{input}: forward is piecewise constant (its true gradient is 0 almost everywhere) and the "
         "backward returns a non-zero surrogate{name_text}",
         "nothing, if the surrogate is deliberate",
         "A straight-through estimator or similar: the backward is not the derivative of forward, on "
         "purpose. Never an error."),
    Code("wrong-second-derivative", "warning",
         "the second derivative (double backward) for {input} is wrong while the first is right",
         "make backward differentiable: compute it from saved inputs with torch ops, or recompute "
         "intermediates in backward (ones saved in forward are constants to autograd)",
         "Double backward disagrees with the truth's second derivative."),
    Code("not-twice-differentiable", "warning",
         "double backward is not supported ({why})",
         "avoid once_differentiable and in-place ops on saved tensors in backward",
         "The backward cannot itself be differentiated."),
    Code("no-setup-context", "warning",
         "{name} has no setup_context, so torch.func cannot transform it",
         "split forward(ctx, ...) into forward(...) and setup_context(ctx, inputs, output)",
         "An old-style Function works with autograd but not with torch.func."),
    Code("no-jvp", "warning",
         "forward-mode AD is not supported ({why})",
         "define a jvp staticmethod",
         "The Function has no jvp, so forward AD and jacfwd fail."),
    Code("no-vmap-rule", "warning",
         "torch.func.vmap is not supported ({why})",
         "set generate_vmap_rule = True or define vmap",
         "The Function has no vmap rule."),
    Code("fails-non-contiguous", "warning",
         "the Function raises on a non-contiguous input ({why})",
         "call .contiguous() on the inputs",
         "A transposed or strided view as input makes the Function raise."),
    Code("no-batched-grad", "warning",
         "batched gradients (vmap over backward) fail ({why})",
         "make backward vmap-compatible (no .item(), no data-dependent Python control flow)",
         "torch.autograd.grad with is_grads_batched=True fails."),
    Code("compile-fails", "warning",
         "torch.compile of the Function fails ({why})",
         "see the error; --compile checks only when compilation succeeds",
         "The Function cannot be compiled."),
    Code("opcheck-fails", "warning",
         "torch.library.opcheck: {test} failed ({why})",
         "see torch.library's documentation for the test",
         "A custom_op's registration test from torch.library.opcheck failed."),
    # ---- said, never counted (info) ---------------------------------------------------------
    Code("numerical-truth", "info",
         "the truth is numerical only at {n} point(s), e.g. {at} ({note})",
         "nothing: the numerical truth is certified to the same standard",
         "grad, hessian: sympy gave no value (or took too long) at these points, so the judged truth is "
         "the high-precision numerical derivative alone.",
         points_message="the truth is numerical only at {n} point(s), e.g. {at} ({note})"),
)


def code(name: str) -> Code:
    """The registered code; KeyError (a bug in the checker) for one that is not registered."""
    return CODES[name]


# ---- phrases: the words a finding's template fields are filled with --------------------------
# classify picks the phrase (by key) that names what it measured and fills it with integers and
# names only; a float is never put into a phrase (present/fmt formats those). A finding's
# ``extra`` carries the filled phrase under the template's field name (``meaning``, ``hint``...)
# and the raw values beside it under their own keys (``meaning_kind``, ``count``, ``dims``...).
PHRASES: dict[str, str] = {
    # wrong-shape {transpose_note}
    "shape.transposed": " (the input's shape transposed)",
    "shape.transposed-values": " (the input's shape transposed, and the values are the true gradient "
                               "transposed)",
    "shape.reshaped": " (the right values in the wrong shape: reshape it)",
    # scaled-by {meaning} and {fix_hint}
    "scale.meaning.ratio": ": the number of elements each output averages ({count})",
    "scale.meaning.numel": ": the number of elements of {of} ({count})",
    "scale.meaning.batch": ": the batch size ({count}, {of}'s first dimension)",
    "scale.meaning.dim": ": the size of {of}'s dimension {dim} ({count})",
    "scale.meaning.sqrt-dim": ": √{count}, the square root of {of}'s last dimension (attention's "
                              "1/√d scale)",
    "scale.meaning.param": ": the value of parameter {param}",
    "scale.meaning.param-inverse": ": one over the value of parameter {param}",
    "scale.fix.too-big-count": "divide by {count}: the gradient of a sum where forward takes a mean",
    "scale.fix.too-small-count": "multiply by {count}: the gradient of a mean where forward takes a sum",
    "scale.fix.sqrt-too-big": "divide by √{count}: backward leaves out forward's 1/√d scale",
    "scale.fix.sqrt-too-small": "multiply by √{count}: backward applies the 1/√d scale once too often",
    "scale.fix.param": "remove the extra factor {param} from backward",
    "scale.fix.param-inverse": "multiply by {param}: backward leaves out forward's factor {param}",
    "scale.fix.plain": "remove the constant factor from backward (compare it with forward's constants)",
    # transposed {hint}
    "transposed.hint": "the transpose of what backward returns now (.mT): for y = x @ W.T "
                       "(nn.Linear) the weight's gradient is grad_output.T @ x, for y = x @ W it is "
                       "x.T @ grad_output",
    # missing-broadcast-sum {hint}
    "broadcast.sum": "return grad{call}",
    "broadcast.wrong-dim": "return grad{call}; backward sums over dim {wrong} instead",
    "broadcast.not-summed": "return grad{call}; backward returns it unsummed with shape {got}, which "
                            "autograd cannot reduce to {want}",
    # shifted {direction} and {hint}
    "shift.exclusive": "custom = truth − grad_output at each element: the element's own term left "
                       "out, as an exclusive scan does",
    "shift.doubled": "custom = truth + grad_output at each element: the element's own term "
                     "counted twice",
    "shift.fix.exclusive": "include each element's own term (for a cumsum: the reversed inclusive "
                           "cumsum of grad_output, element i included)",
    "shift.fix.doubled": "count each element's own term once (an inclusive scan, not inclusive plus "
                         "the element)",
    # wrong-at-points {hint}
    "points.index-add": "accumulate with index_add_ (or index_put_ with accumulate=True): an "
                        "assignment keeps one contribution of each repeated {index} entry",
    "points.scatter-add": "accumulate with scatter_add_: scatter_ keeps one contribution of each "
                          "repeated {index} entry",
    "points.condition": "look at the branch of backward that handles exactly these elements",
    "points.none": "compare backward with the derivative of forward at the elements listed",
    # missing-broadcast-sum {s}
    "plural": "s",
}


def phrase(key: str, **fields: object) -> str:
    """The phrase ``key`` filled with ``fields`` (integers, names, shapes: never a float)."""
    return PHRASES[key].format(**fields)
