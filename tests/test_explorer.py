"""The explorer page without a browser: its steps, its numbers (against mpmath), where nan is
born, a student's gradients, escaping, size, and the --html wiring. The browser tests are in
test_explorer_browser.py."""

import json
import math
import re
from html import unescape
from pathlib import Path

import mpmath
import pytest

from backpropcli import functions
from backpropcli.cli import app
from backpropcli.config import models as configs
from backpropcli.core import trace as traces
from backpropcli.core.trace import Trace, TraceEdge, TraceNode
from backpropcli.present import explorer
from backpropcli.present.figures.graph import drawn


def _trace(function: str, x: float) -> Trace:
    cfg = configs.load_function(function, None, {"x": repr(x)})
    spec = functions.resolve(cfg.function, cfg.model_dump())
    params = {p: getattr(cfg, p) for p in spec.params}
    return traces.function_trace(spec, {"x": x}, params)


def _data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', html, re.S)
    assert found, "no embedded data"
    return json.loads(found.group(1))


def _sinc_prime(x: float) -> mpmath.mpf:
    """d/dx sin(x)/x = (x cos x - sin x)/x², at 50 digits: independent of torch and of the trace."""
    with mpmath.workdps(50):
        x = mpmath.mpf(x)
        return (x * mpmath.cos(x) - mpmath.sin(x)) / x**2


def test_the_steps_go_forward_in_topological_order_then_backward_from_the_output():
    e = explorer.explore(_trace("sinc", 2.0))
    assert [s.phase for s in e.steps] == ["start"] + ["forward"] * 4 + ["backward"] * 4
    assert [s.node for s in e.steps[1:5]] == ["x", "v1", "v2", "v3"]
    forward = {s.node: s.index for s in e.steps if s.phase == "forward"}
    for edge in e.edges:  # every parent's value before its child's
        assert forward[edge.source] < forward[edge.target]
    backward = {s.node: s.index for s in e.steps if s.phase == "backward"}
    assert e.steps[5].node == "v3"  # the output first
    for edge in e.edges:  # every consumer's gradient before the node it sends to
        assert backward[edge.target] < backward[edge.source]
        assert edge.step == backward[edge.target]  # the gradient flows along an edge at its child's step


def test_the_gradient_of_x_is_the_sum_of_its_edges_and_matches_mpmath():
    e = explorer.explore(_trace("sinc", 2.0))
    x = e.node("x")
    truth = _sinc_prime(2.0)
    assert x.grad == "-0.43539777497999166"
    assert abs(float(x.grad) - float(truth)) <= 2e-16 * abs(float(truth))
    assert [t.via for t in x.terms] == ["v1", "v2"]
    assert math.isclose(math.fsum(float(t.downstream) for t in x.terms), float(x.grad), rel_tol=1e-15)
    # each term is upstream × local: with upstream 1 at the output, ∂v1/∂x = -1/x² and ∂v2/∂x = cos x
    by_via = {t.via: t for t in x.terms}
    assert float(by_via["v1"].local) == -0.25 and by_via["v1"].rule == "-1/x²"
    assert math.isclose(float(by_via["v2"].local), float(mpmath.cos(2)), rel_tol=1e-15)
    last = e.steps[-1]
    assert last.node == "x" and "-0.22732435670642043 via v1 + -0.2080734182735712 via v2" in last.lines[0]


def test_where_nan_is_born_at_sinc_0_is_marked():
    """Twice, independently: forward v3 = v1·v2 = inf × 0, and backward the downstream that v1 sends
    to x, ∂f/∂v1 × ∂v1/∂x = 0 × -inf; each after an infinity born from finite numbers (1/0, -1/0²)."""
    e = explorer.explore(_trace("sinc", 0.0))
    forward, backward = e.marked("nan")
    assert (e.steps[forward].phase, e.steps[forward].node) == ("forward", "v3")
    assert "v3 = v1·v2 from v1 = inf, v2 = 0" in e.steps[forward].marks[0].text
    assert (e.steps[backward].phase, e.steps[backward].node) == ("backward", "v1")
    assert "the downstream to x = upstream × local = 0 × -inf = nan" in e.steps[backward].marks[0].text
    assert e.marked("inf") == [2, backward]  # v1 = 1/x at 0; the local -1/x² at 0
    # passed on, not born: ∂f/∂x = nan + inf is nan because a term is; v2's gradient inf because v1 is
    assert e.steps[-1].marks == [] and e.node("x").grad == "nan"
    html = explorer.page(_trace("sinc", 0.0))
    assert f'href="#step={forward}"' in html and f'href="#step={backward}"' in html
    assert f'<tspan class="born nan" data-step="{forward}"> · nan born</tspan>' in html  # on v3's box
    edge = next(i for i, edge in enumerate(e.edges) if (edge.source, edge.target) == ("x", "v1"))
    assert e.steps[backward].marks[0].edge == edge
    assert re.search(rf'data-source="x" data-target="v1">.*?<rect class="mark nan"[^>]*data-step="{backward}"', html)


def test_a_nan_born_in_the_backward_pass_is_marked_there():
    """x·sqrt(x) at 0: every forward value is 0; backward, sqrt's local 1/(2·sqrt(x)) is inf and
    the downstream 0 × inf is nan."""
    e = explorer.explore(_trace("x*sqrt(x)", 0.0))
    assert all(s.marks == [] for s in e.steps if s.phase == "forward")
    (nan,) = e.marked("nan")  # one birth: x's gradient nan + 0 passes it on
    assert e.steps[nan].phase == "backward" and e.steps[nan].node == "v1"
    assert "0 × inf = nan" in e.steps[nan].marks[0].text
    assert e.node("x").grad == "nan"


def test_a_finite_graph_has_no_marks():
    assert explorer.explore(_trace("sinc", 2.0)).marks() == []


def _synthetic() -> Trace:
    """f = a·b at a = 3, b = -2, written out by hand: ∂f/∂a = b = -2, ∂f/∂b = a = 3."""
    nodes = [TraceNode("a", "a", "input", 3.0, -2.0), TraceNode("b", "b", "input", -2.0, 3.0),
             TraceNode("v", "a·b", "mul", -6.0, 1.0)]
    edges = [TraceEdge("a", "v", -2.0, 1.0, -2.0, "b (mul swaps)"), TraceEdge("b", "v", 3.0, 1.0, 3.0, "a (mul swaps)")]
    return Trace("f = a·b, by hand", "v", nodes, edges)


def test_a_students_gradients_are_shown_and_the_wrong_one_is_marked():
    """What `backprop manual --html` passes: a student's gradient per node, wrong or right."""
    students = {"a": explorer.Student(2.0, True, "sign flipped"), "b": explorer.Student(3.0, False)}
    e = explorer.explore(_synthetic(), "f", students)
    (wrong,) = e.marked("wrong")
    assert e.steps[wrong].node == "a" and e.steps[wrong].phase == "backward"
    assert e.steps[wrong].marks[0].text == "yours: ∂f/∂a = 2 is wrong (sign flipped); the true one is -2"
    right = next(s for s in e.steps if s.node == "b" and s.phase == "backward")
    assert "yours: ∂f/∂b = 3: right" in right.lines and right.marks == []
    html = explorer.page(_synthetic(), "f", students)
    data = _data(html)
    assert data["nodes"]["a"]["student"] == {"grad": 2.0, "wrong": True, "note": "sign flipped"}
    assert data["nodes"]["a"]["student_grad"] == "2" and data["nodes"]["v"]["student"] is None
    assert "<th>yours</th>" in html and f'href="#step={wrong}"' in html
    assert f'<tspan class="yours wrong" data-step="{wrong}"> · yours ✗</tspan>' in html
    # without students: no column, no badge
    plain = explorer.page(_synthetic())
    assert "<th>yours</th>" not in plain and "yours ✗" not in plain


def test_the_page_uses_the_pictures_layout():
    trace = _trace("softplus", 0.5)
    html = explorer.page(trace)
    _, _, placed = drawn(trace, "f")
    for name, (x0, y0, x1, y1) in placed.boxes.items():
        found = re.search(rf'data-node="{name}".*?<rect class="box" x="([-\d.]+)" y="([-\d.]+)" '
                          r'width="([\d.]+)" height="([\d.]+)"', html)
        assert found, name
        x, y, w, h = map(float, found.groups())
        pad = 0.04  # the picture's box pad
        assert math.isclose(x + pad, x0, abs_tol=1e-3) and math.isclose(-(y + pad), y1, abs_tol=1e-3)
        assert math.isclose(w - 2 * pad, x1 - x0, abs_tol=1e-3) and math.isclose(h - 2 * pad, y1 - y0, abs_tol=1e-3)


def test_the_page_is_self_contained_and_escapes_what_it_shows():
    trace = _synthetic()
    trace.caption = "</script><script>alert(1)</script> & <b>bold</b>"
    trace.nodes[2].expr = "a</script>·b"
    html = explorer.page(trace)
    assert "<script>alert(1)" not in html and "<b>bold" not in html
    assert html.count("<script") == 2 and html.count("</script>") == 2  # the data and the code, nothing else
    assert _data(html)["title"] == trace.caption  # the JSON reads back as it was (no point: no "at …")
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # nothing to fetch: the one URL is the SVG namespace (a name, never loaded)
    assert re.findall(r"https?://[^\s\"']+", html) == ["http://www.w3.org/2000/svg"]
    assert set(re.findall(r'(?:src|href)="([^"#]*)', html)) <= {"data:,"}


def test_the_page_stays_small_for_a_large_vector_graph():
    """Numbers are embedded as text: a vector is its first entries and its length, so a
    regression on 100 000 points makes a page the size of one on 4."""
    n = 100_000
    xs = [i / n for i in range(n)]
    nodes = [TraceNode("W", "W", "input", 0.5, 1.0), TraceNode("x", "x", "input", xs, None),
             TraceNode("v", "W·x", "mul", [0.5 * v for v in xs], [1.0 / n] * n),
             TraceNode("L", "mean(v)", "mean", 0.25, 1.0)]
    edges = [TraceEdge("W", "v", xs, [1.0 / n] * n, 0.5, "x (mul swaps)"),
             TraceEdge("x", "v", None, [1.0 / n] * n, None, "data"),
             TraceEdge("v", "L", [1.0 / n] * n, 1.0, [1.0 / n] * n, f"1/N = 1/{n}")]
    html = explorer.page(Trace("regression, large", "L", nodes, edges), "L")
    assert len(html.encode()) < 60_000
    assert "(n=100000)" in html
    e = explorer.explore(Trace("regression, large", "L", nodes, edges), "L")
    # W is one number feeding a vector: its downstream is the sum of the products
    assert "Σ" in e.steps[-1].lines[0] and "summed over its 100000 elements" in e.steps[-1].lines[0]


def _run(runner, args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("args, name", [
    (["grad", "sinc", "--x", "2"], "grad-sinc"),
    (["grad", "x*sin(x)", "--x", "2"], "grad-x_sin_x"),
    (["hessian", "softplus", "--x", "0.5"], "hessian-softplus"),
    (["regress", "--iters", "5"], "regress"),
])
def test_html_writes_the_page_through_the_staging_folder(runner, tmp_path, args, name):
    out = tmp_path / "out"
    payload = _run(runner, [*args, "--html", "--json", "--out", str(out)])
    page = out / f"{name}-explorer.html"
    assert payload["files"] == [str(page)] and payload["plots"] == []
    assert "trace" in payload  # --html traces the graph; the JSON carries it as --graph's does
    html = page.read_text()
    assert html.startswith("<!doctype html>") and len(html.encode()) < 300_000
    assert sorted(p.name for p in out.iterdir()) == [page.name]  # no staging folder left behind
    data = _data(html)
    assert data["steps"][-1]["phase"] == "backward" and data["title"] == payload["trace"]["title"]


def test_html_and_graph_together_write_both(runner, tmp_path):
    payload = _run(runner, ["grad", "sinc", "--x", "2", "--html", "--graph", "--json", "--out", str(tmp_path)])
    assert [Path(p).name for p in payload["files"]] == ["grad-sinc-graph.png", "grad-sinc-graph.dot",
                                                        "grad-sinc-explorer.html"]


def test_the_sinc_page_shows_the_gradient_at_the_last_step(runner, tmp_path):
    _run(runner, ["grad", "sinc", "--x", "2", "--html", "--json", "--out", str(tmp_path)])
    html = (tmp_path / "grad-sinc-explorer.html").read_text()
    row = re.search(r'<tr data-node="x">(.*?)</tr>', html).group(1)
    cell = re.search(r'<td class="grad num" data-step="(\d+)">([^<]*)</td>', row)
    assert unescape(cell.group(2)) == "-0.43539777497999166"
    assert int(cell.group(1)) == len(_data(html)["steps"]) - 1  # complete at the last step


def test_a_tensor_ops_edge_is_a_vector_jacobian_product_not_a_product(tmp_path):
    """manual's graph holds matmuls and broadcasts: its page says downstream = Jᵀ·upstream there,
    never upstream × local, which is false for them ([0.014, …] (n=160) × [2.04, …] (n=80))."""
    import subprocess
    import sys

    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "backpropcli", "manual", "examples/mlp_manual_buggy.py", "--html",
                    "--out", str(out)], check=False, capture_output=True, cwd=Path(__file__).parent.parent)
    page = next(out.glob("manual-*-explorer.html")).read_text()
    assert "vector–Jacobian product" in page
    assert "upstream × local" not in page
