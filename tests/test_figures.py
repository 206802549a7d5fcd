"""What the derivative figure draws: along the line its points lie on, on the scale their span
needs, with every non-finite value marked where it occurs (issue 27's figures that misled)."""

import math

import pytest

from backpropcli.core import sampling


def test_points_on_a_line_are_drawn_along_it():
    line = sampling.line_through(["x", "y"], {"x": [-2, -1, 0, 1, 2], "y": [-1, -0.5, 0, 0.5, 1]})
    assert line is not None and line.axis == "x" and line.others == {"y": (0.0, 0.5)}
    dense = sampling.dense(line, {"x": [-2, 2], "y": [-1, 1]}, ["x", "y"], 11)
    for x, y in zip(dense["x"], dense["y"]):  # every drawn point is on the line y = x/2
        assert y == pytest.approx(x / 2, abs=1e-15)
    held = sampling.line_through(["x", "y"], {"x": [1, 2, 3], "y": [4]})
    assert held.others == {"y": (4.0, 0.0)}  # one y for every x: held fixed, as before


def test_the_axis_follows_the_variable_that_moves_and_no_line_means_no_curve():
    line = sampling.line_through(["x", "y"], {"x": [1], "y": [-1, 0, 1]})
    assert line.axis == "y" and line.others == {"x": (1.0, 0.0)}
    assert sampling.line_through(["x", "y"], {"x": [1, 2, 0], "y": [0, 5, 1]}) is None


@pytest.mark.parametrize("values,scale", [([1e-8, 0.5, 1.0], "log"), ([-1e6, -1, 0, 1e6], "symlog"),
                                          ([-1e6, 0, 1e6], "linear"),
                                          ([-1e-4, 1.0], "symlog"), ([-5, 5], "linear"),
                                          ([1, 1000], "linear"), ([0.5, 2.0], "linear")])
def test_more_than_three_decades_of_x_is_logarithmic(values, scale):
    assert sampling.scale_of(values)[0] == scale


def test_a_logarithmic_axis_is_sampled_evenly_in_decades():
    line = sampling.line_through(["x"], {"x": [1e-8, 1.0]})
    dense = sampling.dense(line, {"x": [1e-8, 1.0]}, ["x"], 201)["x"]
    assert all(b > a > 0 for a, b in zip(dense, dense[1:]))
    assert sum(x < 1e-4 for x in dense) > 80  # half the decades, about half the points
    wide = {"x": [-1e6, -1.0, 0.0, 1e6]}
    symlog = sampling.dense(sampling.line_through(["x"], wide), wide, ["x"], 201)
    assert 0.0 in symlog["x"] and min(symlog["x"]) == pytest.approx(-1e6) and sum(abs(x) < 10 for x in symlog["x"]) > 20


def test_huge_inputs_stay_finite():
    line = sampling.line_through(["x"], {"x": [-1.7e308, 1.7e308]})
    assert line.scale == "linear"
    assert all(math.isfinite(x) for x in sampling.dense(line, {"x": [-1.7e308, 1.7e308]}, ["x"], 11)["x"])


def _figure(monkeypatch, tmp_path, function, **points):
    """The figure grad --plot draws, with the calls that draw it recorded."""
    from backpropcli.app import derivatives
    from backpropcli.app.views import Views
    from backpropcli.config import models as config
    from backpropcli.present.figures import curves

    drawn = {}
    real = curves.check_curves

    def spy(check, path, requested=None, line=None):
        drawn.update(check=check, requested=requested, line=line)
        return real(check, path, requested, line)

    monkeypatch.setattr(curves, "check_curves", spy)
    options = {"x": None, "y": None, "a": None, "b": None, "c": None, "dtype": None, **points}
    cfg = config.load_function(function, None, options)
    derivatives.derivatives(derivatives.DerivativeRequest(cfg, 1, True, Views(), tmp_path))
    return drawn


def test_quad_on_a_diagonal_is_drawn_through_its_points(monkeypatch, tmp_path):
    drawn = _figure(monkeypatch, tmp_path, "quad", x="-2:2:5", y="-1:1:5")
    curve = drawn["check"]
    for point in curve.points:  # the dense curve runs through (x, x/2), where the checked points are
        assert point.inputs["y"] == pytest.approx(point.inputs["x"] / 2, abs=1e-12)
    assert (tmp_path / "grad-quad.png").stat().st_size > 10_000


def test_the_cancellation_range_is_drawn_on_a_log_axis(monkeypatch, tmp_path):
    drawn = _figure(monkeypatch, tmp_path, "(cos(x) - 1)/x**2", x="1e-8:1:50")
    assert drawn["line"].scale == "log"
    assert min(p.inputs["x"] for p in drawn["check"].points) < 1e-7  # the failing region is sampled


def test_non_finite_values_are_marked_where_they_occur(tmp_path):
    """sinc's report graph gives nan at 0: an ✕ and the word nan sit at the top edge at x = 0."""
    from backpropcli.core import derivatives as checks
    from backpropcli.functions import get
    from backpropcli.present.figures import common, curves

    check = checks.derivatives(get("sinc"), {"x": [-1.0, 0.0, 1.0]}, {}, checks.Order.GRADIENT)
    plt = common.pyplot()
    captured = []
    real = common.save

    def keep(fig, path):
        captured.append([(t.get_text(), t.xy[0]) for ax in fig.axes for t in ax.texts if hasattr(t, "xy")])
        return real(fig, path)

    curves.save, saved = keep, curves.save
    try:
        curves.check_curves(check, tmp_path / "f.png", line=sampling.line_through(["x"], {"x": [-1, 0, 1]}))
    finally:
        curves.save = saved
    assert ("nan", 0.0) in captured[0]
    plt.close("all")
