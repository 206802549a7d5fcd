"""Typed expressions: numbers against references written here (mpmath's numerical
differentiation of functions written independently in mpmath, exact rationals for
polynomials), never against the package's sympy path."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import pytest
import torch

from backpropcli.errors import InputError
from backpropcli.expressions import compile as compile_expr
from backpropcli.expressions.parse import parse
from backpropcli.expressions.precision import region, summary
from backpropcli.functions import get
from backpropcli.functions.graph import build

mp = mpmath.mp


def _sig(t):
    return 1 / (1 + mpmath.exp(-t))


# text, an independent mpmath function of x (and y), params, points
CASES_1D = [
    ("sin(x)/x", lambda x: mpmath.sin(x) / x, {}, [0.5, 2.0, -3.0, 1e-3, 40.0]),
    ("x*sin(x)", lambda x: x * mpmath.sin(x), {}, [2.0, -0.7, 1e-4, 100.0]),
    ("log(1 + exp(x))", lambda x: mpmath.log(1 + mpmath.exp(x)), {}, [0.5, -20.0, 30.0, 800.0]),
    ("(cos(x) - 1)/x**2", lambda x: (mpmath.cos(x) - 1) / x**2, {}, [1e-5, 0.3, 7.0]),
    ("exp(sin(x))", lambda x: mpmath.e ** mpmath.sin(x), {}, [0.0, 1.3, -2.0]),
    ("sqrt(1 + x^2)", lambda x: mpmath.hypot(1, x), {}, [0.0, 3.0, -1e5]),
    ("tanh(x)", lambda x: mpmath.tanh(x), {}, [0.1, -2.0, 15.0]),
    ("atan(x)/(1 + x**2)", lambda x: mpmath.atan(x) / (1 + x * x), {}, [0.2, -4.0]),
    ("asin(x) + acos(x)", lambda x: mpmath.asin(x) + mpmath.acos(x), {}, [0.3, -0.9]),
    ("expm1(x) - x", lambda x: mpmath.expm1(x) - x, {}, [1e-6, 0.5, -3.0]),
    ("log1p(x**2)", lambda x: mpmath.log1p(x * x), {}, [1e-8, 2.0]),
    ("sinh(x)*cosh(x)", lambda x: mpmath.sinh(2 * x) / 2, {}, [0.5, -1.5]),
    ("tan(x)**2", lambda x: mpmath.tan(x) ** 2, {}, [0.4, -1.2]),
    ("sigmoid(x)", _sig, {}, [0.0, 3.0, -5.0]),
    ("softplus(2*x)", lambda x: mpmath.log1p(mpmath.exp(2 * x)), {}, [0.25, -3.0, 50.0]),
    ("abs(x)**3", lambda x: abs(x) ** 3, {}, [1.5, -0.5]),
    ("a*exp(-b*x^2)", lambda x: 2 * mpmath.exp(-0.5 * x * x), {"a": 2.0, "b": 0.5}, [0.0, 1.0, -2.5]),
    ("x**x", lambda x: x**x, {}, [0.5, 2.0]),
    ("sin(pi*x)/(pi*x)", lambda x: mpmath.sin(mpmath.pi * x) / (mpmath.pi * x), {}, [0.25, 3.5]),
    ("e**(c*x) - 1", lambda x: mpmath.exp(-x / 4) - 1, {"c": -0.25}, [1.0, -8.0]),
    ("log(x)*sqrt(x)", lambda x: mpmath.log(x) * mpmath.sqrt(x), {}, [0.5, 9.0]),
    ("cos(sin(cos(x)))", lambda x: mpmath.cos(mpmath.sin(mpmath.cos(x))), {}, [0.1, 2.2]),
    ("-x^-2 + +x", lambda x: -(x**-2) + x, {}, [0.5, -3.0]),
]


def _diff(f, x, n, *, y=None, partial=None):
    """n-th derivative by mpmath.diff at enough digits for cancellations near small x."""
    extra = 0 if x == 0 or abs(x) >= 1 else int(-3 * math.log10(abs(x))) + 10
    with mpmath.workdps(40 + extra):
        return mpmath.diff(f, mpmath.mpf(x), n)


def _close(got: float, want, rel=1e-14, tiny=1e-40):  # tiny: mp.diff's own noise on a true 0
    want = float(want)
    if math.isinf(want):
        assert got == want
        return
    assert abs(got - want) <= rel * abs(want) + tiny, (got, want)


@pytest.mark.parametrize("text,f,params,points", CASES_1D, ids=[c[0] for c in CASES_1D])
def test_one_variable_against_mpmath_diff(text, f, params, points):
    spec = compile_expr(text, params)
    assert spec.variables == ("x",)
    for x in points:
        ref = spec.reference({"x": x}, params, 2)
        _close(ref.value, _diff(f, x, 0))
        _close(ref.gradient["x"], _diff(f, x, 1))
        _close(ref.hessian[0][0], _diff(f, x, 2), rel=1e-13)


def test_removable_singularity_takes_the_limit():
    ref = compile_expr("sin(x)/x").reference({"x": 0.0}, {}, 2)
    assert ref.value == 1.0 and ref.gradient["x"] == 0.0
    assert ref.hessian[0][0] == pytest.approx(-1 / 3, rel=1e-15)
    ref = compile_expr("(cos(x) - 1)/x**2").reference({"x": 0.0}, {}, 2)
    assert ref.value == -0.5 and ref.gradient["x"] == 0.0 and ref.hessian[0][0] == pytest.approx(1 / 12)
    ref = compile_expr("(exp(x) - 1)/x").reference({"x": 0.0}, {}, 1)
    assert (ref.value, ref.gradient["x"]) == (1.0, 0.5)


def test_cancellation_is_resolved_at_tiny_x():
    # (cos x - 1)/x^2 = -1/2 + x^2/24 - ...: its derivative x/12 - x^3/180 survives 50 digits
    ref = compile_expr("(cos(x) - 1)/x**2").reference({"x": 1e-20}, {}, 2)
    assert ref.value == -0.5
    assert ref.gradient["x"] == pytest.approx(1e-20 / 12, rel=1e-15)
    assert ref.hessian[0][0] == pytest.approx(1 / 12, rel=1e-15)


def test_quad_typed_is_exact():
    params = {"a": 1.0, "b": 2.0, "c": 3.0}
    spec = compile_expr("a*x**2 + b*x*y + c*y**2", params)
    assert spec.variables == ("x", "y") and spec.params == ("a", "b", "c")
    for x, y in [(1.0, 1.0), (0.5, -2.25), (1e8, -3.0)]:
        X, Y = Fraction(x), Fraction(y)
        a, b, c = (Fraction(params[k]) for k in "abc")
        ref = spec.reference({"x": x, "y": y}, params, 2)
        assert ref.value == float(a * X * X + b * X * Y + c * Y * Y)
        assert ref.gradient == {"x": float(2 * a * X + b * Y), "y": float(b * X + 2 * c * Y)}
        assert ref.hessian == [[2.0, 2.0], [2.0, 6.0]]


def test_two_variables_with_params_against_mpmath():
    params = {"a": 0.75}
    spec = compile_expr("sin(x*y) + a*log(1 + y^2)", params)
    x0, y0 = 1.25, -0.5
    ref = spec.reference({"x": x0, "y": y0}, params, 2)

    def f(x, y):
        return mpmath.sin(x * y) + mpmath.mpf("0.75") * mpmath.log(1 + y * y)

    with mpmath.workdps(40):
        X, Y = mpmath.mpf(x0), mpmath.mpf(y0)
        want = {(i, j): mpmath.diff(f, (X, Y), (i, j)) for i in range(3) for j in range(3) if i + j <= 2}
    _close(ref.value, want[0, 0])
    _close(ref.gradient["x"], want[1, 0])
    _close(ref.gradient["y"], want[0, 1])
    _close(ref.hessian[0][0], want[2, 0], rel=1e-13)
    _close(ref.hessian[0][1], want[1, 1], rel=1e-13)
    _close(ref.hessian[1][0], want[1, 1], rel=1e-13)
    _close(ref.hessian[1][1], want[0, 2], rel=1e-13)


def test_typed_sinc_agrees_with_the_builtin_at_50_points():
    typed, builtin = compile_expr("sin(x)/x"), get("sinc")
    xs = [0.0] + [(-1) ** k * 10 ** (-6 + 9 * k / 48) for k in range(49)]
    for x in xs:
        t, b = typed.reference({"x": x}, {}, 2), builtin.reference({"x": x}, {}, 2)
        assert t.value == pytest.approx(b.value, rel=1e-15, abs=1e-300)
        assert t.gradient["x"] == pytest.approx(b.gradient["x"], rel=1e-14, abs=1e-300)
        assert t.hessian[0][0] == pytest.approx(b.hessian[0][0], rel=1e-13, abs=1e-300)


def test_derivative_strings_and_formulas():
    spec = compile_expr("x*sin(x)")
    d = spec.expression.derivatives(1)
    assert list(d) == ["df/dx"] and d["df/dx"] in ("x*cos(x) + sin(x)", "sin(x) + x*cos(x)")
    d2 = compile_expr("a*x**2 + b*x*y + c*y**2", {"a": 1, "b": 2, "c": 3}).expression.derivatives(2)
    assert d2 == {"d2f/dx2": "2*a", "d2f/dxdy": "b", "d2f/dy2": "2*c"}
    assert compile_expr("abs(x)").expression.derivatives(1) == {"df/dx": "sign(x)"}
    assert spec.name == "x*sin(x)" and spec.custom is None


def test_normalised_text():
    assert parse("x^2 + 1").text == "x**2 + 1"  # ^ is power, with the precedence of **
    assert parse("(((x)))*(y+a)").text == "x*(y + a)"
    assert parse("-x**2").text == "-x**2" and parse("(-x)**2").text == "(-x)**2"
    assert parse("a - (b - c)").text == "a - (b - c)" and parse("(a - b) - c").text == "a - b - c"
    assert parse("2**3**x").text == "2**3**x" and parse("(2**3)**x").text == "(2**3)**x"
    assert parse("x/(y*2)").text == "x/(y*2)"
    assert parse("y*b").variables == ("y",) and parse("y*b").params == ("b",)


def test_missing_param_is_named():
    with pytest.raises(InputError, match=r"\bb\b.*--b"):
        compile_expr("a*x + b", {"a": 1.0})


def test_graph_nodes_are_named_in_order_and_differentiate_twice():
    spec = compile_expr("(cos(x) - 1)/x**2")
    x = torch.tensor([0.3, 2.0], dtype=torch.float64, requires_grad=True)
    g = build(spec.graph, {"x": x})
    ops = [n for n in g.nodes.values() if n.op.name != "input"]
    assert [n.name for n in ops] == ["v1", "v2", "v3", "v4"]
    assert [n.expr for n in ops] == ["cos(x)", "cos(x) - 1", "x**2", "(cos(x) - 1)/x**2"]
    assert g.output == "v4"
    (d1,) = torch.autograd.grad(g.result.sum(), x, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), x)
    for i, x0 in enumerate([0.3, 2.0]):
        f = lambda t: (mpmath.cos(t) - 1) / t**2  # noqa: E731
        assert d1[i].item() == pytest.approx(float(_diff(f, x0, 1)), rel=1e-12)
        assert d2[i].item() == pytest.approx(float(_diff(f, x0, 2)), rel=1e-10)


def test_shared_subexpressions_are_one_node_and_params_are_inputs():
    spec = compile_expr("a*sin(x) + sin(x)**2", {"a": 2.0})
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    g = build(spec.graph, {"x": x, "a": torch.tensor(2.0, dtype=torch.float64)})
    assert [n.expr for n in g.nodes.values() if n.op.name == "sin"] == ["sin(x)"]
    assert ("a", "v2") in [(p, n.name) for n in g.nodes.values() for p in n.parents]


def test_derivative_graph_is_the_symbolic_f_prime():
    spec = compile_expr("log(1 + exp(x))")
    x = torch.tensor([0.5, -3.0], dtype=torch.float64, requires_grad=True)
    g = build(spec.derivative_graph, {"x": x})
    for i, x0 in enumerate([0.5, -3.0]):
        assert g.result[i].item() == pytest.approx(float(_sig(mpmath.mpf(x0))), rel=1e-15)
        (d,) = torch.autograd.grad(g.result[i], x, retain_graph=True)
        want = float(mpmath.exp(x0) / (1 + mpmath.exp(x0)) ** 2)
        assert d[i].item() == pytest.approx(want, rel=1e-13)
    assert all(n.name.startswith("u") for n in g.nodes.values() if n.op.name != "input")


def test_worst_node_of_the_cancellation():
    spec = compile_expr("(cos(x) - 1)/x**2")
    (p,) = spec.expression.precision({"x": [1e-5]}, {})
    assert p.worst_node.name == "v2" and p.worst_node.expression == "cos(x) - 1"
    assert 7 <= p.worst_node.digits_lost <= 12
    # the graph's derivative is garbage there: beyond the 6-digit tolerance even against the size
    # of the terms the chain rule adds (the verdict's yardstick), about 1/x
    assert p.digits_lost > 6
    assert p.reason.startswith("cancellation at v2 = cos(x) - 1")
    (q,) = spec.expression.precision({"x": [2.0]}, {})
    assert q.digits_lost < 2 and q.reason == ""


def test_nan_at_a_removable_singularity_and_overflow_are_classified():
    (p,) = compile_expr("sin(x)/x").expression.precision({"x": [0.0]}, {})
    assert p.worst_node.expression == "sin(x)/x" and p.reason.startswith("nan at a removable singularity")
    (q,) = compile_expr("log(1 + exp(x))").expression.precision({"x": [800.0]}, {})
    assert q.worst_node.expression == "exp(x)" and q.reason.startswith("overflow at v1 = exp(x)")


def test_range_summary_names_the_region():
    spec = compile_expr("(cos(x) - 1)/x**2")
    xs = [10.0 ** (k / 4) for k in range(-32, 5)]
    results = spec.expression.precision({"x": xs}, {})
    r = region(results, tolerance=6)
    assert r is not None and r.low == xs[0] and 1e-4 < r.high < 1e-1
    assert "cos(x) - 1" in r.reason
    assert summary(results, 6).startswith("loses > 6 digits for x in [1e-08,")
    assert summary(results, 5.95).startswith("loses > 5.95 digits for x in [1e-08,")
    assert region(compile_expr("x*sin(x)").expression.precision({"x": [1.0, 2.0]}, {}), 6) is None


def test_hessian_precision_two_variables():
    params = {"a": 1.0, "b": 2.0, "c": 3.0}
    spec = compile_expr("a*x**2 + b*x*y + c*y**2", params)
    (p,) = spec.expression.precision({"x": [1.0], "y": [1.0]}, params, order=2)
    assert p.digits_lost == 0 and p.reason == ""


def test_kinks_and_constants():
    spec = compile_expr("abs(x)")
    ref = spec.reference({"x": 0.0}, {}, 2)
    # |x| has no derivative at 0 (left -1, right 1): no truth is made up, the point is named
    assert ref.status == "not-differentiable" and ref.cause == "kink"
    assert (ref.evidence["left"], ref.evidence["right"]) == (-1.0, 1.0)
    assert math.isnan(ref.gradient["x"]) and math.isnan(ref.hessian[0][0])
    p = spec.expression.precision({"x": [0.0, -2.0]}, {}, 2)
    assert p[0].digits_lost is None and p[1].digits_lost == 0
    const = compile_expr("2*pi")
    assert const.variables == ("x",) and const.reference({"x": 1.0}, {}, 2).gradient == {"x": 0.0}
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    assert build(const.graph, {"x": x}).result.tolist() == [2 * math.pi] * 2
    only_y = compile_expr("y**2 + b", {"b": 1.0})
    assert only_y.variables == ("y",) and only_y.reference({"y": 3.0}, {"b": 1.0}, 1).gradient == {"y": 6.0}
