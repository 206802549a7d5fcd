"""Chain-rule traces against the report's hand derivations, and the graph pictures."""

import math
import re

import numpy as np
import pytest

from backpropcli import functions
from backpropcli.config.models import RegressConfig
from backpropcli.core import layout, trace
from backpropcli.core.regression import load_dataset
from backpropcli.present.figures import graph as plots
from backpropcli.present.figures import regression as regression_figures


def grads(t):
    return {n.name: n.grad for n in t.nodes}


def values(t):
    return {n.name: n.value for n in t.nodes}


def local(t, source, target):
    return next(e.local for e in t.edges if (e.source, e.target) == (source, target))


@pytest.mark.parametrize("x", [2.0, -0.7, 5.0, 1e-3])
def test_sinc_trace_is_section_3_2(x):
    t = trace.function_trace(functions.get("sinc"), {"x": x}, {})
    v, g = values(t), grads(t)
    assert v["v1"] == pytest.approx(1 / x, rel=1e-15) and v["v2"] == pytest.approx(math.sin(x), rel=1e-15)
    assert g["v3"] == 1.0
    assert g["v1"] == pytest.approx(math.sin(x), rel=1e-15)  # df/dv1 = v2
    assert g["v2"] == pytest.approx(1 / x, rel=1e-15)  # df/dv2 = v1
    assert local(t, "x", "v1") == pytest.approx(-1 / x**2, rel=1e-15)
    assert local(t, "x", "v2") == pytest.approx(math.cos(x), rel=1e-15)
    assert g["x"] == pytest.approx((x * math.cos(x) - math.sin(x)) / x**2, rel=1e-9)
    assert t.consistent()


@pytest.mark.parametrize("x,y,a,b,c", [(1, 1, 1, 2, 3), (-2, 0.5, 3, -1, 2), (0.25, -4, -1, 0.5, 1)])
def test_quad_trace_is_section_3_3(x, y, a, b, c):
    t = trace.function_trace(functions.get("quad"), {"x": x, "y": y}, {"a": a, "b": b, "c": c})
    v, g = values(t), grads(t)
    assert (v["v1"], v["v2"], v["v4"]) == (x * x, y * y, b * x * y)
    assert g["v3"] == g["v4"] == g["v5"] == 1.0  # the add gate distributes
    assert g["v1"] == a and g["v2"] == c
    assert g["x"] == pytest.approx(2 * a * x + b * y) and g["y"] == pytest.approx(b * x + 2 * c * y)
    assert (g["a"], g["b"], g["c"]) == pytest.approx((x * x, x * y, y * y))
    assert local(t, "x", "v4") == b * y and local(t, "b", "v4") == x * y  # the mul gate swaps
    assert t.consistent()


@pytest.mark.parametrize("x", [0.5, -3.0, 10.0])
def test_softplus_traces_are_section_3_4_and_figure_7(x):
    t = trace.function_trace(functions.get("softplus"), {"x": x}, {})
    v, g = values(t), grads(t)
    e = math.exp(x)
    assert v["v1"] == pytest.approx(e) and v["v2"] == pytest.approx(1 + e)
    assert g["v2"] == pytest.approx(1 / (1 + e)) and g["v1"] == pytest.approx(1 / (1 + e))
    assert g["x"] == pytest.approx(e / (1 + e), rel=1e-14)

    d = trace.function_trace(functions.get("softplus"), {"x": x}, {}, derivative=True)
    v, g = values(d), grads(d)
    assert v["v4"] == pytest.approx(e / (1 + e), rel=1e-14)
    assert g["v3"] == pytest.approx(e)  # dv4/dv3 = v1
    assert g["v2"] == pytest.approx(-e / (1 + e) ** 2, rel=1e-14)  # -v1/v2²
    assert g["v1"] == pytest.approx(1 / (1 + e) - e / (1 + e) ** 2, rel=1e-12)  # v3 - v1/v2²
    assert g["x"] == pytest.approx(e / (1 + e) ** 2, rel=1e-13)
    assert d.consistent()


def test_regression_trace_gives_the_gradients_the_update_uses():
    cfg = RegressConfig(dtype="float64")
    t = trace.regression_trace(cfg, load_dataset(cfg))
    x, y = np.array([1.0, 2, 3, 4]), np.array([0.0, -1, -2, -3])
    r = y - (0.3 * x - 0.3)
    g = grads(t)
    assert g["W"] == pytest.approx(-2 * np.mean(r * x), rel=1e-14)
    assert g["b"] == pytest.approx(-2 * np.mean(r), rel=1e-14)
    assert g["x"] is None and g["y"] is None  # data
    assert values(t)["L"] == pytest.approx(np.mean(r * r))
    assert local(t, "s", "L") == [0.25] * 4 and local(t, "W", "Wx") == [1.0, 2.0, 3.0, 4.0]
    assert t.consistent()


def test_consistency_check_can_fail():
    t = trace.function_trace(functions.get("sinc"), {"x": 2.0}, {})
    t.edges[0].downstream += 1e-6
    assert not t.consistent()


def test_dot_text_matches_the_trace():
    t = trace.function_trace(functions.get("quad"), {"x": 1.0, "y": 1.0}, {"a": 1.0, "b": 2.0, "c": 3.0})
    dot = plots.dot_text(t)
    nodes = re.findall(r'^  "(\w+)" \[label=', dot, flags=re.M)
    edges = re.findall(r'^  "(\w+)" -> "(\w+)"', dot, flags=re.M)
    assert nodes == [n.name for n in t.nodes]
    assert edges == [(e.source, e.target) for e in t.edges]
    assert dot.startswith("digraph backprop {")
    # DOT runs the way the picture does: top to bottom when that is closer to square
    vertical = plots.drawn(t, "f")[-1].vertical
    assert f"rankdir={'TB' if vertical else 'LR'};" in dot


def test_graph_picture_is_written_and_not_trivial(tmp_path):
    import matplotlib.image as mpimg

    t = trace.function_trace(functions.get("softplus"), {"x": 0.5}, {}, derivative=True)
    path = plots.graph_picture(t, tmp_path / "g.png", "f′")
    pixels = mpimg.imread(path)
    height, width = pixels.shape[:2]
    assert min(height, width) > 600 and max(height, width) / min(height, width) < 3  # a sane aspect ratio
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_autograd_trees():
    trees = trace.function_autograd_graphs(functions.get("sinc"), {"x": 2.0}, {})
    assert trees["custom"]["name"] == "SincBackward"
    assert trees["custom"]["children"][0]["name"] == "AccumulateGrad (x)"
    assert trees["graph"]["name"] == "MulBackward0"
    assert {c["name"] for c in trees["graph"]["children"]} == {"ReciprocalBackward0", "SinBackward0"}
    second = trace.function_autograd_graphs(functions.get("softplus"), {"x": 0.5}, {}, derivative=True)
    # the custom backward was recorded: the graph of f' leads back to x (how it is built inside is its own business)
    assert second["custom"]["children"] and "AccumulateGrad (x)" in str(second["custom"])


def test_every_graph_picture_keeps_a_sane_aspect_ratio_and_labels_off_the_boxes(tmp_path):
    import matplotlib.image as mpimg

    from backpropcli.config.models import RegressConfig
    from backpropcli.core.regression import load_dataset

    cfg = RegressConfig()
    pictures = {"regression": (trace.regression_trace(cfg, load_dataset(cfg)), "L")}
    for name, params in (("sinc", {}), ("quad", {"a": 1.0, "b": 2.0, "c": 3.0}), ("softplus", {})):
        spec = functions.get(name)
        inputs = dict.fromkeys(spec.variables, 1.0)
        pictures[name] = (trace.function_trace(spec, inputs, params), "f")
        pictures[name + "'"] = (trace.function_trace(spec, inputs, params, derivative=True), "f′")
    for name, (traced, symbol) in pictures.items():
        height, width = mpimg.imread(plots.graph_picture(traced, tmp_path / "g.png", symbol)).shape[:2]
        assert max(height, width) / min(height, width) < 3, f"{name}: {width}x{height}"
    # a label is placed on its own arrow, clear of every box it could be read against
    box = (3.5, 0.0, 4.5, 1.0)  # another node's box over the middle of the arrow
    x, y = layout.place_label((2.0, 0.5), (6.0, 0.5), "local 1", [box])
    assert y == 0.5 and 2.0 < x < 6.0
    assert not layout.overlaps(layout.label_box(x, y, "local 1"), box)
    assert "∂∂" not in plots.dot_text(pictures["quad'"][0], "∂f/∂x")


def test_regression_line_reads_like_algebra():
    assert regression_figures._line(-1.0, 1.0) == "y = -x + 1"
    assert regression_figures._line(1.0, -0.5) == "y = x - 0.5"
    assert regression_figures._line(-0.6065, -0.1572) == "y = -0.6065x - 0.1572"
    assert regression_figures._line(2.0, 0.0) == "y = 2x"
    assert regression_figures._line(0.0, 3.0) == "y = 3"
