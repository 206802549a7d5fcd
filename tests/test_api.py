"""The Python API (backpropcli.grad, hessian, regress, ...): the same results as the commands,
to_dict() equal to their --json, HTML tables for a notebook, and a cheap `import backpropcli`."""

import json
import subprocess
import sys

import pytest

import backpropcli
from backpropcli.cli import app
from backpropcli.errors import GradientCheckError, UsageProblem

PNG = b"\x89PNG\r\n\x1a\n"


def _json(runner, *args) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    payload = json.loads(result.stdout)
    return {k: v for k, v in payload.items() if k not in ("files", "plots")}


def test_import_is_cheap_and_the_names_load_on_first_use():
    code = ("import sys, backpropcli; assert 'torch' not in sys.modules and 'backpropcli.api' not in sys.modules; "
            "f = backpropcli.grad; assert 'backpropcli.api' in sys.modules and 'torch' not in sys.modules; "
            "assert backpropcli.GradientCheckError.__module__ == 'backpropcli.errors'; "
            "print(sorted(backpropcli.__all__))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    names = {"check_function", "assert_gradients", "grad", "hessian", "regress", "GradientCheckError"}
    assert names <= set(eval(done.stdout)) and names <= set(dir(backpropcli))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        backpropcli.nothing  # noqa: B018


def test_grad_to_dict_is_the_commands_json(runner):
    result = backpropcli.grad("sinc", x=[0, 2], trace=True)
    assert result.to_dict() == _json(runner, "grad", "sinc", "--x", "0,2", "--trace")
    assert result.ok and result.findings == [] and len(result.points) == 2
    assert result.points[1].gradients["x"].custom == pytest.approx(-0.43539777497999166, rel=1e-12)


def test_an_expression_with_parameters_and_a_point_without_a_derivative(runner):
    result = backpropcli.grad("a*abs(x)", x=(-1, 0, 1), a=2)
    assert result.to_dict() == _json(runner, "grad", "a*abs(x)", "--x=-1,0,1", "--a", "2")
    assert result.ok  # the two points with a derivative are right; x = 0 is not judged
    (finding,) = result.findings
    assert finding.code == "not-differentiable" and finding.severity == "warning"
    assert "x = 0" in finding.message and finding.extra["points"] == [{"x": 0.0}]


def test_hessian_and_regress_to_dict_are_the_commands_json(runner):
    assert backpropcli.hessian("softplus", x=0.5).to_dict() == _json(runner, "hessian", "softplus", "--x", "0.5")
    fit = backpropcli.regress(lr=0.1, iters=50, autograd_graph=True)
    assert fit.to_dict() == _json(runner, "regress", "--lr", "0.1", "--iters", "50", "--autograd-graph")
    assert fit.ok and not fit.converged and len(fit.losses) == 50
    (finding,) = fit.findings
    assert finding.code == "not-converged" and "--iters" in finding.fix


def test_the_reports_regression_has_not_converged_and_a_large_lr_diverges():
    fit = backpropcli.regress()  # the report's settings: lr 0.01, 100 steps
    assert fit.W == pytest.approx(-0.6064835, abs=1e-6) and fit.b == pytest.approx(-0.156986, abs=1e-5)
    blown = backpropcli.regress(lr=10.0, iters=100)
    assert not blown.ok and blown.findings[0].code == "diverged" and blown.findings[0].severity == "error"


def test_a_usage_error_raises_what_the_command_exits_2_on():
    with pytest.raises(UsageProblem, match="does not take --z"):
        backpropcli.grad("sinc", x=1, z=2)
    with pytest.raises(UsageProblem):
        backpropcli.regress(lr=-1)


def test_results_show_themselves_as_html_tables_and_pictures(tmp_path):
    result = backpropcli.grad("x*sin(x)", x=2, trace=True)
    page = result._repr_html_()
    assert page.count("<table") == 1 and "analytic" in page and "✓" in page and "verdict:" in page
    assert "custom" not in page.split("</thead>")[0]  # an expression has no hand-written backward
    trace = result.trace
    tables = trace._repr_html_()
    assert tables.count("<table") == 2 and "v1" in tables and "local ∂child/∂parent" in tables
    assert trace.to_dict() == result.to_dict()["trace"] and trace.nodes[0]["name"]
    picture = trace.picture()
    assert picture._repr_png_().startswith(PNG)
    assert picture.save(tmp_path / "graph.png").read_bytes() == picture.png
    assert list(tmp_path.iterdir()) == [tmp_path / "graph.png"]  # nothing else written
    fit = backpropcli.regress(iters=10)
    assert "least squares" in fit._repr_html_() and fit.picture("line")._repr_png_().startswith(PNG)
    with pytest.raises(ValueError, match="'loss' or 'line'"):
        fit.picture("curve")
    assert "<table" in backpropcli.hessian("quad", x=1, y=1)._repr_html_()


def test_html_escapes_every_cell():
    from backpropcli.present import html

    page = html.table(["a<b"], [["<script>x</script>"], ["&"]], caption="1 < 2")
    assert "<script>" not in page and "&lt;script&gt;" in page and "a&lt;b" in page and "&amp;" in page
    long = html.table(["n"], [[i] for i in range(html.MAX_ROWS + 5)])
    assert long.count("<tr>") == html.MAX_ROWS + 1 and f"{html.MAX_ROWS} of {html.MAX_ROWS + 5} rows" in long


FINDINGS = [{"code": "transposed", "severity": "error", "input": "weight", "output": None,
             "message": "the gradient for weight is the true gradient transposed",
             "fix": "return x.T @ grad_output"},
            {"code": "no-jvp", "severity": "warning", "input": None, "message": "no jvp", "fix": "add a jvp"}]
INPUTS = [{"name": "x", "shape": [4, 3], "dtype": "float64", "ok": True, "worst_index": None},
          {"name": "weight", "shape": [3, 3], "dtype": "float64", "ok": False, "max_abs_error": 0.5,
           "worst_index": [0, 2], "pattern": "transposed"}]


def test_the_failure_block_names_code_input_place_and_fix():
    from backpropcli.present import plain

    block = plain.findings_block("Linear: 1 gradient error", FINDINGS[:1], INPUTS)
    assert block.splitlines() == [
        "Linear: 1 gradient error",
        "  transposed: input weight (worst element [0, 2])",
        "    the gradient for weight is the true gradient transposed",
        "    fix: return x.T @ grad_output"]
    placed = {**FINDINGS[0], "place": "exactly where x < 0"}  # a finding's own place comes first
    assert plain.place(placed, INPUTS) == "exactly where x < 0"
    assert issubclass(GradientCheckError, AssertionError)
    error = GradientCheckError(block, result="the check")
    assert str(error) == block and error.result == "the check"


def test_the_report_section_is_plain_tables():
    from backpropcli.present import plain

    payload = {"target": "Linear", "ok": False, "truth": "autograd through forward", "dtype": "float64",
               "capabilities": [{"name": "backward", "ok": False, "compared_with": "the truth", "detail": ""}],
               "findings": FINDINGS, "inputs": INPUTS}
    text = plain.report(payload)
    assert "\x1b" not in text  # no colour codes
    lines = text.splitlines()
    assert lines[0] == "check of Linear: FAILED (truth: autograd through forward, float64)"
    header = next(i for i, line in enumerate(lines) if line.startswith("code"))
    assert set(lines[header + 1]) <= {"-", " "}
    row = lines[header + 2].split()
    assert row[:4] == ["transposed", "error", "weight", "worst"] and "return x.T @ grad_output" in lines[header + 2]
    assert any(line.split()[:3] == ["weight", "3x3", "float64"] and "✗" in line for line in lines)
