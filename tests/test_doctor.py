"""The doctor on a gallery of classic bugs (tests/doctor_gallery.py), each yielding exactly its
finding codes, and on the project's own Functions, which pass every capability. References
here are independent of the package (tests/references.py: mpmath, exact rationals)."""

import json
import math

import doctor_gallery as gallery
import pytest
import references as ref

from backpropcli.doctor.diagnose import CAPABILITIES, diagnose
from backpropcli.doctor.loader import load, target_of
from backpropcli.errors import InputError
from backpropcli.functions.quad import Quad
from backpropcli.functions.sinc import Sinc
from backpropcli.functions.softplus import Softplus
from backpropcli.functions.spec import Reference

XS = [-3 + 0.1 * i for i in range(61)]  # includes 0 (exactly: -3 + 0.1*30 is 0 up to rounding)
XS[30] = 0.0
YS = [0.5 + 0.05 * i for i in range(61)]


def check(obj, **kwargs):
    points = kwargs.pop("points", {"x": XS})
    return diagnose(target_of(obj), points, **kwargs)


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
    ("NanAtZero", ["nan-where-finite"]),
    ("WrongBranch", ["wrong-at-points"]),
    ("NumpyForward", []),
    ("square", []),
])
def test_gallery_one_input(name, codes):
    result = check(getattr(gallery, name))
    assert sorted(result.codes) == sorted(codes)
    errors = [f for f in result.findings if f.severity == "error"]
    assert result.ok == (not errors)
    assert [c.name for c in result.capabilities] == list(CAPABILITIES)
    for f in result.findings:
        assert f.message and f.severity in ("error", "warning")


@pytest.mark.parametrize("name, codes", [("XSquaredY", []), ("Swapped", ["swapped-gradients"])])
def test_gallery_two_inputs(name, codes):
    result = check(getattr(gallery, name), points={"x": XS, "y": YS})
    assert result.codes == codes
    assert result.variables == ["x", "y"]
    if not codes:
        assert all(c.ok for c in result.capabilities), result.capabilities


def test_severity_error_is_a_wrong_first_derivative():
    for name in ("IgnoresGradOutput", "SignFlipped", "ForgotTheThree", "NanAtZero", "WrongBranch"):
        assert not check(getattr(gallery, name)).ok
    for name in ("OnceDifferentiable", "OldStyle", "Float32Output", "NoJvpNoVmap", "SavedIntermediate"):
        result = check(getattr(gallery, name))
        assert result.ok and all(f.severity == "warning" for f in result.findings)


def test_scaled_by_reports_the_factor():
    (finding,) = check(gallery.ForgotTheThree).findings
    assert finding.extra["factor"] == pytest.approx(1 / 3, rel=1e-9)
    assert finding.extra["factor_text"] == "1/3"
    assert finding.as_dict()["factor"] == pytest.approx(1 / 3, rel=1e-9)
    assert "3" in finding.message


def test_nan_where_finite_names_the_point():
    (finding,) = check(gallery.NanAtZero).findings
    assert finding.extra["points"] == [{"x": 0.0}]
    point = check(gallery.NanAtZero).points[30]
    g = point.gradients["x"]
    assert math.isnan(g.custom) and g.truth == pytest.approx(0, abs=1e-9) and g.ok is False


def test_wrong_at_points_lists_the_worst():
    (finding,) = check(gallery.WrongBranch).findings
    worst = finding.extra["points"]
    assert 1 <= len(worst) <= 5 and all(p["inputs"]["x"] < 0 for p in worst)
    assert worst[0]["inputs"]["x"] == pytest.approx(-3.0)  # |3x² - 2x| is largest at the far end


def test_capabilities_say_why():
    caps = {c.name: c for c in check(gallery.OldStyle).capabilities}
    assert caps["torch.func.grad"].ok is False and "setup_context" in caps["torch.func.grad"].detail
    assert caps["backward"].ok and caps["forward-ad"].ok
    caps = {c.name: c for c in check(gallery.IgnoresGradOutput).capabilities}
    assert caps["grad-output"].ok is False and caps["backward"].ok is False
    caps = {c.name: c for c in check(gallery.SavedIntermediate).capabilities}
    assert caps["double-backward"].ok is False and caps["backward"].ok is True


def test_truth_sources():
    assert check(gallery.Cube).truth == "autograd"
    numpy_forward = check(gallery.NumpyForward)  # .numpy() in forward: not traceable
    assert numpy_forward.truth == "finite_difference"
    assert all(p.gradients["x"].autograd is None for p in numpy_forward.points)
    assert check(gallery.square).truth == "finite_difference"  # a callable is what autograd checks


def test_the_truth_is_accurate():
    """Richardson-extrapolated differences agree with f'(x) = cos x to ~1e-11."""
    for p in check(gallery.NumpyForward).points:
        assert p.gradients["x"].finite_difference == pytest.approx(math.cos(p.inputs["x"]), abs=1e-10)


# ---- the project's own Functions, against independent references --------------------------------


def sinc_reference(inputs, params, order):
    x = inputs["x"]
    return Reference(value=ref.sinc(x, 0), value_scale=1.0, gradient={"x": ref.sinc(x, 1)},
                     gradient_scale={"x": 1.0}, hessian=[[ref.sinc(x, 2)]] if order >= 2 else None)


def softplus_reference(inputs, params, order):
    x = inputs["x"]
    return Reference(value=ref.softplus(x, 0), value_scale=1.0, gradient={"x": ref.softplus(x, 1)},
                     gradient_scale={"x": 1.0}, hessian=[[ref.softplus(x, 2)]] if order >= 2 else None)


QUAD = {"a": 1.0, "b": 2.0, "c": 3.0}


def quad_reference(inputs, params, order):
    value, grads, _ = ref.quad_exact(inputs["x"], inputs["y"], params["a"], params["b"], params["c"])
    a, b, c = params["a"], params["b"], params["c"]
    return Reference(value=float(value), value_scale=1.0, gradient={"x": float(grads["x"]), "y": float(grads["y"])},
                     gradient_scale={"x": 1.0, "y": 1.0}, hessian=[[2 * a, b], [b, 2 * c]] if order >= 2 else None)


@pytest.mark.parametrize("obj, reference, points, params", [
    (Sinc, sinc_reference, {"x": XS}, {}),
    (Softplus, softplus_reference, {"x": XS}, {}),
    (Quad, quad_reference, {"x": XS, "y": YS}, QUAD),
    (Sinc, None, {"x": XS}, {}),
    (Quad, None, {"x": XS, "y": YS}, QUAD),
])
def test_project_functions_pass_every_capability(obj, reference, points, params):
    result = diagnose(target_of(obj), points, params=params, reference=reference)
    assert result.findings == []
    assert result.ok
    assert [(c.name, c.ok) for c in result.capabilities] == [(name, True) for name in CAPABILITIES]
    assert result.truth == ("reference" if reference else "autograd")


def test_json_ready():
    result = check(gallery.NanAtZero)
    payload = result.as_dict()
    text = json.dumps(payload, allow_nan=False)
    back = json.loads(text)
    assert back["command"] == "check" and back["ok"] is False
    assert [c["name"] for c in back["capabilities"]] == list(CAPABILITIES)
    assert back["findings"][0]["code"] == "nan-where-finite"
    g = back["points"][30]["gradients"]["x"]
    assert g["custom"] == "nan" and set(g) >= {"analytic", "custom", "autograd", "finite_difference", "ok"}
    assert g["truth_source"] == "autograd" and set(g["abs_error"]) == {"custom", "autograd", "finite_difference"}


def test_arity_and_params_are_checked():
    with pytest.raises(InputError, match="--x and --y"):
        diagnose(target_of(gallery.XSquaredY), {"x": XS})
    with pytest.raises(InputError, match="--x"):
        diagnose(target_of(gallery.Cube), {"x": XS, "y": YS})
    with pytest.raises(InputError, match="no parameter 'q'"):
        diagnose(target_of(Quad), {"x": XS, "y": YS}, params={"q": 1.0})
    with pytest.raises(InputError, match="pair up"):
        diagnose(target_of(gallery.XSquaredY), {"x": XS, "y": [1.0, 2.0]})


def test_the_shipped_example():
    buggy = diagnose(load("examples/my_ops.py:MySinc"), {"x": XS})
    assert not buggy.ok
    assert {"ignores-grad-output", "nan-where-finite", "no-setup-context"} <= set(buggy.codes)
    fixed = diagnose(load("examples/my_ops.py:MySincFixed"), {"x": XS}, reference=sinc_reference)
    assert fixed.ok and fixed.findings == []
    assert all(c.ok for c in fixed.capabilities)


def test_a_reference_for_another_function_is_flagged():
    result = diagnose(target_of(Softplus), {"x": XS}, reference=sinc_reference)
    assert "value-differs" in result.codes and "wrong-at-points" in result.codes and not result.ok


def test_params_must_cover_forward():
    with pytest.raises(InputError, match="one or two tensor inputs.*give the others as params"):
        diagnose(target_of(Quad), {"x": XS, "y": YS})


def test_a_huge_point_elsewhere_does_not_let_a_wrong_small_gradient_pass():
    # f = x² y: at (2.5, 3) the true ∂f/∂y is x² = 6.25 and Swapped returns 2xy = 15. Beside a
    # point at x ≈ -1.2e5 (gradients ~1e10), a tolerance scaled by the largest truth would pass it.
    result = diagnose(target_of(gallery.Swapped), {"x": [-123456.789, 2.5], "y": [1e-17, 3.0]})
    small = result.points[1]
    assert small.gradients["y"].custom == 15.0 and small.gradients["y"].ok is False
    assert not result.ok
