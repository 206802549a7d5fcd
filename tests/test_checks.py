"""The four-way comparison: it finds the truth, and it catches a wrong backward."""

import dataclasses
import math

import pytest
import torch

from backpropcli import functions
from backpropcli.core import derivatives as checks
from backpropcli.errors import InputError


def second_order(spec, points, params, **options):
    return checks.derivatives(spec, points, params, order=2, **options)


def test_grad_columns_at_the_reports_points():
    c = checks.derivatives(functions.get("sinc"), {"x": [2.0]}, {})
    g = c.points[0].gradients["x"]
    want = (2 * math.cos(2) - math.sin(2)) / 4
    assert g.analytic == pytest.approx(want, rel=1e-15)
    assert g.custom == pytest.approx(want, rel=1e-15) and g.autograd == pytest.approx(want, rel=1e-15)
    assert g.finite_difference == pytest.approx(want, rel=1e-9)
    assert c.ok and c.gradcheck is True

    q = checks.derivatives(functions.get("quad"), {"x": [1.0], "y": [1.0]}, {"a": 1.0, "b": 2.0, "c": 3.0})
    assert q.points[0].gradients["x"].custom == 4.0 and q.points[0].gradients["y"].custom == 8.0


def test_hessian_columns():
    s = second_order(functions.get("softplus"), {"x": [0.5]}, {})
    h = s.points[0].hessian[0][0]
    want = math.exp(0.5) / (1 + math.exp(0.5)) ** 2
    for value in (h.analytic, h.custom, h.autograd, h.derivative_graph):
        assert value == pytest.approx(want, rel=1e-15)
    assert s.ok and s.gradcheck is True
    q = second_order(functions.get("quad"), {"x": [1.0], "y": [1.0]}, {"a": 1.0, "b": 2.0, "c": 3.0})
    assert [[e.custom for e in row] for row in q.points[0].hessian] == [[2, 2], [2, 6]]
    z = second_order(functions.get("sinc"), {"x": [0.0]}, {})
    assert z.points[0].hessian[0][0].custom == pytest.approx(-1 / 3, rel=1e-15)
    assert math.isnan(z.points[0].hessian[0][0].autograd)  # the report's graph: 1/0 * 0
    assert z.ok and len(z.graph_failures) == 1


def test_a_wrong_backward_is_caught():
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(x):
            return torch.sin(x) / x

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * torch.cos(x) / x  # forgot the -sin(x)/x^2 term

    spec = dataclasses.replace(functions.get("sinc"), custom=Wrong.apply)
    c = checks.derivatives(spec, {"x": [2.0, 3.0]}, {})
    assert not c.ok and not any(p.ok for p in c.points)
    assert c.gradcheck is False  # gradcheck agrees


def test_float32_tolerance():
    c = checks.derivatives(functions.get("softplus"), {"x": [-3.0, 0.5, 30.0]}, {}, dtype="float32")
    assert c.ok and c.rtol == 1e-5


def test_points_pair_up_or_fail():
    spec = functions.get("quad")
    assert checks.broadcast_points(spec, {"x": [1.0, 2.0], "y": [3.0]}) == {"x": [1.0, 2.0], "y": [3.0, 3.0]}
    with pytest.raises(InputError, match="x has 2, y has 3"):
        checks.broadcast_points(spec, {"x": [1.0, 2.0], "y": [1.0, 2.0, 3.0]})


def test_gradcheck_skips_huge_points_but_still_judges_the_rest():
    c = checks.derivatives(functions.get("softplus"), {"x": [1e300, 0.5]}, {})
    assert c.gradcheck is True and c.gradcheck_points == 1
    only_huge = checks.derivatives(functions.get("softplus"), {"x": [1e300]}, {})
    assert only_huge.gradcheck is None and only_huge.ok


def test_many_points_use_a_sample_for_gradcheck():
    xs = [i / 100 for i in range(-500, 501)]
    c = checks.derivatives(functions.get("sinc"), {"x": xs}, {})
    assert c.ok and c.gradcheck_points == checks.GRADCHECK_POINTS
    assert len(c.points) == 1001
