"""The doctor through its scalar form (--x/--y points, --a/--b/--c params, one way of building a
Subject) on a gallery of classic bugs (tests/doctor_gallery.py) and on the project's own
Functions. References here are independent of the package (tests/references.py: mpmath, exact
rationals)."""

import math

import doctor_gallery as gallery
import pytest
import references as ref

from backpropcli import functions
from backpropcli.doctor import build
from backpropcli.doctor import truth as truths
from backpropcli.doctor.diagnose import diagnose
from backpropcli.doctor.loader import load, target_of
from backpropcli.errors import InputError
from backpropcli.functions.quad import Quad
from backpropcli.functions.sinc import Sinc
from backpropcli.functions.softplus import Softplus

XS = [-3 + 0.1 * i for i in range(61)]
XS[30] = 0.0
YS = [0.5 + 0.05 * i for i in range(61)]
QUAD = {"a": 1.0, "b": 2.0, "c": 3.0}


def check(obj, points=None, params=None, reference=None):
    subject = build.subject_from_points(target_of(obj), points or {"x": XS}, params or {})
    if isinstance(reference, str):
        spec = functions.resolve(reference)
        reference = build.reference_from_spec(spec, subject, {**spec.param_defaults, **(params or {})})
    return diagnose(subject, reference=reference)


def wrong(result) -> set:
    return {f.input for f in result.errors}


@pytest.mark.parametrize("name, codes", [
    ("Cube", []),
    ("IgnoresGradOutput", ["ignores-grad-output"]),
    ("SignFlipped", ["sign-flipped"]),
    ("ForgotTheThree", ["scaled-by"]),
    ("OnceDifferentiable", ["not-twice-differentiable"]),
    ("OldStyle", ["no-setup-context"]),
    ("Float32Output", ["dtype-changed"]),
    ("NoJvpNoVmap", ["no-jvp", "no-vmap-rule"]),
    ("SavedIntermediate", ["wrong-second-derivative"]),
    ("NanAtZero", ["nan-where-finite", "wrong-jvp"]),  # its jvp is the same 0/0 at 0
    ("WrongBranch", ["wrong-at-points"]),
    ("NumpyForward", []),
    ("square", []),
])
def test_gallery_one_input(name, codes):
    result = check(getattr(gallery, name))
    assert sorted(result.codes) == sorted(codes)
    assert result.ok == (not result.errors)


def test_two_input_codes():
    assert check(gallery.XSquaredY, {"x": XS, "y": YS}).codes == []
    assert check(gallery.Swapped, {"x": XS, "y": YS}).codes == ["swapped-gradients", "swapped-gradients"]


def test_scaled_by_reports_the_factor():
    (finding,) = check(gallery.ForgotTheThree).findings
    assert finding.extra["factor"] == pytest.approx(1 / 3, rel=1e-9)


def test_wrong_at_points_names_the_condition():
    (finding,) = check(gallery.WrongBranch).findings
    worst = finding.extra["worst"]
    assert 1 <= len(worst) and all(p["inputs"]["x"] < 0 for p in worst)


@pytest.mark.parametrize("name", ["Cube", "OnceDifferentiable", "OldStyle", "NoJvpNoVmap", "SavedIntermediate",
                                  "NumpyForward", "square", "Float32Output"])
def test_a_right_first_derivative_has_no_error(name):
    result = check(getattr(gallery, name))
    assert result.errors == [], result.findings
    assert result.ok
    assert result.elementwise is True  # detected: every point moves only its own value


@pytest.mark.parametrize("name", ["IgnoresGradOutput", "SignFlipped", "ForgotTheThree", "NanAtZero", "WrongBranch"])
def test_a_wrong_first_derivative_fails_on_x(name):
    result = check(getattr(gallery, name))
    assert not result.ok and wrong(result) == {"x"}
    (row,) = result.inputs
    assert row.name == "x" and row.ok is False and row.pattern is not None


def test_two_inputs():
    right = check(gallery.XSquaredY, {"x": XS, "y": YS})
    assert right.ok and [r.name for r in right.inputs] == ["x", "y"]
    swapped = check(gallery.Swapped, {"x": XS, "y": YS})
    assert not swapped.ok and wrong(swapped) == {"x", "y"}


def test_the_wrong_points_are_where_the_bug_is():
    (row,) = check(gallery.WrongBranch).inputs
    assert XS[row.worst_index[0]] < 0  # 3x² vs 2x: only the negative branch is wrong


def test_nan_at_zero_is_found_at_zero():
    (row,) = check(gallery.NanAtZero).inputs
    assert row.max_abs_error == math.inf and row.worst_index == (30,)


def test_float32_output_is_judged_at_float32_and_said():
    result = check(gallery.Float32Output)
    assert "dtype-changed" in result.codes and result.ok


def test_truth_sources():
    assert check(gallery.Cube).truth == truths.AUTOGRAD
    assert check(gallery.NumpyForward).truth == truths.FINITE  # .numpy() in forward: not traceable
    assert check(gallery.square).truth == truths.FINITE  # a callable: autograd through it is what is checked
    assert check(Sinc, reference="sinc").truth == truths.REFERENCE


def test_the_truth_is_accurate():
    """The truth by differences (an untraceable forward) agrees with f'(x) = cos x to ~1e-10."""
    subject = build.subject_from_points(target_of(gallery.NumpyForward), {"x": XS}, {})
    from backpropcli.doctor import products
    from backpropcli.doctor.results import Cost

    run = products.counted(subject, Cost(), [])
    leaves = run.leaves()
    outputs = run.call(leaves)
    truth = truths.establish(run, leaves, outputs)
    ones = (outputs[0].detach() * 0 + 1,)
    got = truth.vjp(ones)["x"]
    for x, g in zip(XS, got.tolist()):
        assert g == pytest.approx(math.cos(x), abs=1e-10)


@pytest.mark.parametrize("obj, reference, points, params, truth", [
    (Sinc, "sinc", {"x": XS}, {}, truths.REFERENCE),
    (Softplus, "softplus", {"x": XS}, {}, truths.REFERENCE),
    (Quad, "quad", {"x": XS, "y": YS}, QUAD, truths.REFERENCE),
    # autograd through sinc's forward is nan at 0 (torch.where's unselected branch is 0/0 there), so
    # it disagrees with the differences and is not trusted: the truth is the differences
    (Sinc, None, {"x": XS}, {}, truths.FINITE),
    (Quad, None, {"x": XS, "y": YS}, QUAD, truths.AUTOGRAD),
])
def test_project_functions_pass(obj, reference, points, params, truth):
    result = check(obj, points, params, reference)
    assert result.errors == [] and result.ok
    assert result.truth == truth


def test_the_references_are_independent():
    """The 50-digit reference the scalar form builds agrees with tests/references.py."""
    subject = build.subject_from_points(target_of(Sinc), {"x": [0.0, 1.5]}, {})
    reference = build.reference_from_spec(functions.resolve("sinc"), subject, {})
    import torch

    x = torch.tensor([0.0, 1.5], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(reference(x).sum(), x)
    assert g.tolist() == pytest.approx([ref.sinc(0.0, 1), ref.sinc(1.5, 1)], rel=1e-14, abs=1e-15)


def test_arity_and_params_are_checked():
    with pytest.raises(InputError, match="--x and --y"):
        check(gallery.XSquaredY, {"x": XS})
    with pytest.raises(InputError, match="--x"):
        check(gallery.Cube, {"x": XS, "y": YS})
    with pytest.raises(InputError, match="no parameter 'q'"):
        check(Quad, {"x": XS, "y": YS}, {"q": 1.0})
    with pytest.raises(InputError, match="pair up"):
        check(gallery.XSquaredY, {"x": XS, "y": [1.0, 2.0]})


def test_params_must_cover_forward():
    with pytest.raises(InputError, match="--inputs"):
        check(Quad, {"x": XS, "y": YS})


def test_the_shipped_example():
    buggy = diagnose(build.subject_from_points(load("examples/my_ops.py:MySinc"), {"x": XS}, {}))
    assert not buggy.ok and wrong(buggy) == {"x"}
    fixed = check(load("examples/my_ops.py:MySincFixed").obj, reference="sinc")
    assert fixed.ok and fixed.errors == []


def test_a_reference_for_another_function_is_flagged():
    result = check(Softplus, reference="sinc")
    assert "value-differs" in result.codes and not result.ok


def test_a_huge_point_elsewhere_does_not_let_a_wrong_small_gradient_pass():
    # f = x² y: at (2.5, 3) the true ∂f/∂y is x² = 6.25 and Swapped returns 2xy = 15. Beside a
    # point at x ≈ -1.2e5 (gradients ~1e10), a tolerance scaled by the largest truth alone would
    # pass it: the S floor is rtol/1000 of the scale, 1e-9 · 1e10 = 10 < |15 − 6.25| ... barely.
    result = check(gallery.Swapped, {"x": [-123456.789, 2.5], "y": [1e-17, 3.0]})
    assert not result.ok
