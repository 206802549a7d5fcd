"""The registry is the one place a function is described: a function registered here, in the
test, goes through grad, hessian, --trace, --graph, --plot, --json and the report with no
other edit. A second one without a custom Function (as a typed expression will be) shows
that the checks then judge autograd through the graph."""

import ast
import dataclasses
import json
import shutil
from pathlib import Path

import mpmath
import pytest
import torch

from backpropcli import functions
from backpropcli.app import report as reports
from backpropcli.cli import app
from backpropcli.functions.graph import Op
from backpropcli.functions.spec import Formulas, FunctionSpec, Reference

PACKAGE = Path(__file__).parent.parent / "backpropcli"


class Tanh(torch.autograd.Function):
    """f(x) = tanh x; f'(x) = 1 - tanh² x, from the saved output (so double backward works)."""

    @staticmethod
    def forward(x):
        return torch.tanh(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y * y)


TANH_OP = Op("tanh", torch.tanh, lambda parents, index, size: f"1 - tanh({parents[index]})²")


def toy_graph(g):
    """One node: v1 = tanh(x), with its rule beside its forward."""
    g.op("v1", "tanh(x)", TANH_OP, "x")
    return "v1"


def toy_reference(inputs, params, order=1):
    """tanh and its derivatives at 50 digits, written here (not the package's code)."""
    with mpmath.workdps(50):
        x = mpmath.mpf(inputs["x"])
        t = mpmath.tanh(x)
        d1 = 1 - t * t
        d2 = -2 * t * d1
        return Reference(float(t), abs(float(t)), {"x": float(d1)}, {"x": float(d1)},
                         [[float(d2)]] if order >= 2 else None, [[abs(float(d2))]] if order >= 2 else None)


TOY = FunctionSpec(
    name="toytanh",
    summary="f(x) = tanh x, a function registered by a test",
    variables=("x",),
    points={"x": [0.5]},
    custom=Tanh.apply,
    graph=toy_graph,
    graph_title="Figure T",
    reference=toy_reference,
    formulas=Formulas(f="tanh x", df="1 − tanh² x", d2f="−2 tanh x (1 − tanh² x)"),
    heading="tanh x (a toy)",
)


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(functions.REGISTRY, TOY.name, TOY)
    return TOY


def test_grad_and_hessian_with_every_view(toy, runner, tmp_path):
    for command, key in (("grad", "gradients"), ("hessian", "hessian")):
        result = runner.invoke(app, [command, toy.name, "--x", "0.5,-1,2", "--plot", "--trace", "--graph",
                                     "--autograd-graph", "--out", str(tmp_path), "--json"])
        assert result.exit_code == 0, result.output
        payload = json.loads(result.stdout)
        assert payload["ok"] and payload["function"] == toy.name and payload["config"]["function"] == toy.name
        point = payload["points"][1]
        t = mpmath.tanh(-1)
        truth = 1 - t * t if command == "grad" else -2 * t * (1 - t * t)
        column = (point[key]["x"] if command == "grad"
                  else {m: v[0][0] for m, v in point[key].items() if m != "abs_error"})
        for method in ("custom", "autograd", "finite_difference"):
            assert column[method] == pytest.approx(float(truth), rel=1e-7)
        assert [n["name"] for n in payload["trace"]["nodes"]] == ["x", "v1"]
        assert "TanhBackward" in json.dumps(payload["autograd_graph"]["custom"])  # the custom Function, recorded
        names = {Path(p).name for p in payload["files"]}
        stem = f"{command}-{toy.name}"
        assert names == {f"{stem}.png", f"{stem}-graph.png", f"{stem}-graph.dot"}


def test_trace_reads_the_rule_off_the_op(toy):
    from backpropcli.core import trace

    t = trace.function_trace(toy, {"x": 0.5}, {})
    (edge,) = t.edges
    assert edge.rule == "1 - tanh(x)²"
    assert edge.local == pytest.approx(float(1 - mpmath.tanh(0.5) ** 2), rel=1e-15)


def test_config_model_and_options(toy, runner, tmp_path):
    config = tmp_path / "t.yaml"
    config.write_text(f"function: {toy.name}\nx: [0.25, 0.75]\n")
    payload = json.loads(runner.invoke(app, ["grad", "--config", str(config), "--json"]).stdout)
    assert [p["inputs"]["x"] for p in payload["points"]] == [0.25, 0.75]
    refused = runner.invoke(app, ["grad", toy.name, "--y", "1"])
    assert refused.exit_code == 2 and f"{toy.name} does not take --y (it takes --x)" in refused.stderr


def test_report_includes_the_registered_function(toy, tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree("configs", configs)
    (configs / f"{toy.name}.yaml").write_text(f"function: {toy.name}\nx: 0.5\n")
    built = reports.report(reports.ReportRequest(configs, tmp_path / "report"))
    assert built.ok
    text = built.markdown.read_text()
    assert "### tanh x (a toy)" in text and f"![Figure T]({toy.name}-graph.png)" in text
    assert (built.folder / f"{toy.name}-graph.png").exists()
    assert f"grad {toy.name}: custom Function agrees with the analytic reference" in [v.name for v in built.verdicts]
    assert built.sections[f"hessian_{toy.name}"]["ok"]


def test_without_a_custom_function_the_graph_is_judged(monkeypatch, runner):
    """No custom Function (custom=None): no custom column, finite differences of the graph,
    and the verdict on autograd through the graph, which fails where the graph does (sinc's at 0)."""
    graph_only = dataclasses.replace(functions.get("sinc"), name="graphonly", custom=None)
    monkeypatch.setitem(functions.REGISTRY, graph_only.name, graph_only)
    good = runner.invoke(app, ["grad", graph_only.name, "--x", "2", "--json"])
    assert good.exit_code == 0, good.output
    column = json.loads(good.stdout)["points"][0]["gradients"]["x"]
    assert "custom" not in column
    assert column["autograd"] == pytest.approx(float((2 * mpmath.cos(2) - mpmath.sin(2)) / 4), rel=1e-14)
    assert column["finite_difference"] == pytest.approx(column["analytic"], rel=1e-8)

    table = runner.invoke(app, ["hessian", graph_only.name, "--x", "2"])
    assert table.exit_code == 0 and "custom" not in table.stdout

    broken = runner.invoke(app, ["grad", graph_only.name, "--x", "0"])
    assert broken.exit_code == 1
    assert "autograd through the graph disagrees" in broken.stderr


def test_check_results_carry_extra_fields(monkeypatch):
    """Per point and per check, extra JSON fields (digits_lost, expression, ...) pass through as they are."""
    from backpropcli.core import derivatives as checks
    from backpropcli.present import payloads

    result = checks.derivatives(functions.get("sinc"), {"x": [2.0]}, {})
    result.extra["expression"] = "sin(x)/x"
    result.points[0].extra["digits_lost"] = 0.5
    payload = payloads.check(result, None, [])
    assert payload["expression"] == "sin(x)/x" and payload["points"][0]["digits_lost"] == 0.5


def test_a_spec_can_annotate_its_checks(monkeypatch, runner):
    def annotate(check):
        check.extra["expression"] = "tanh(x)"
        for point in check.points:
            point.extra["digits_lost"] = 0.0

    monkeypatch.setitem(functions.REGISTRY, TOY.name, dataclasses.replace(TOY, annotate=annotate))
    payload = json.loads(runner.invoke(app, ["grad", TOY.name, "--json"]).stdout)
    assert payload["expression"] == "tanh(x)" and payload["points"][0]["digits_lost"] == 0.0


def _string_constants(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)}


def test_no_builtin_function_is_named_outside_the_registry():
    from backpropcli.expressions.parse import FUNCTIONS

    names = set(functions.REGISTRY)
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        if "functions" in parts:
            continue
        # the expression language's own softplus(u) is a primitive of its whitelist, not the built-in
        named = names - set(FUNCTIONS) if "expressions" in parts else names
        assert not named & _string_constants(path), f"{path} names a built-in function"


def test_no_function_is_longer_than_60_lines():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 60, f"{path.name}:{node.lineno} {node.name} has {length} lines"
