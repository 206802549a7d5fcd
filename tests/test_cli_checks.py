"""grad and hessian on the command line: tables, JSON, plots, configs, errors."""

import json

import pytest


def invoke(runner, *args):
    from backpropcli.cli import app

    return runner.invoke(app, list(args))


def test_grad_sinc_table(runner):
    result = invoke(runner, "grad", "sinc", "--x", "2.0")
    assert result.exit_code == 0, result.output
    assert "-0.4353977749799916" in result.stdout
    assert "gradcheck" in result.stdout and "passed" in result.stdout
    assert "all 1 point(s) ok" in result.stdout


def test_grad_quad_table(runner):
    result = invoke(runner, "grad", "quad", "--a", "1", "--b", "2", "--c", "3", "--x", "1", "--y", "1")
    assert result.exit_code == 0, result.output
    assert "∂f/∂x" in result.stdout and "∂f/∂y" in result.stdout


def test_grad_json_contract(runner):
    result = invoke(runner, "grad", "quad", "--x", "1", "--y", "1", "--json")
    payload = json.loads(result.stdout)
    assert payload["command"] == "grad" and payload["function"] == "quad"
    assert payload["params"] == {"a": 1.0, "b": 2.0, "c": 3.0}
    point = payload["points"][0]
    assert point["inputs"] == {"x": 1.0, "y": 1.0} and point["value"] == 6.0
    for var, want in (("x", 4.0), ("y", 8.0)):
        cols = point["gradients"][var]
        assert {"analytic", "custom", "autograd", "finite_difference"} <= set(cols)
        assert cols["analytic"] == cols["custom"] == cols["autograd"] == want
    assert point["ok"] is True and payload["gradcheck"] is True and payload["ok"] is True


def test_grad_json_writes_nan_as_a_string(runner):
    result = invoke(runner, "grad", "sinc", "--x", "0", "--json")
    payload = json.loads(result.stdout)
    point = payload["points"][0]
    assert point["value"] == 1.0 and point["value_graph"] == "nan"
    assert point["gradients"]["x"]["autograd"] == "nan" and point["gradients"]["x"]["custom"] == 0.0
    assert payload["ok"] is True and payload["graph_failures"] == 1


def test_hessian_softplus_every_column(runner):
    result = invoke(runner, "hessian", "softplus", "--x", "0.5")
    assert result.exit_code == 0
    assert "0.2350037122015945" in result.stdout  # the analytic column, shortest round-trip digits
    assert result.stdout.count("0.235003712201594") >= 4  # analytic, custom, autograd, Figure 7 agree to 15+
    assert "gradgradcheck" in result.stdout and "Figure 7" in result.stdout


def test_hessian_json_contract(runner):
    payload = json.loads(invoke(runner, "hessian", "quad", "--x", "1", "--y", "1", "--json").stdout)
    assert payload["command"] == "hessian" and payload["variables"] == ["x", "y"]
    h = payload["points"][0]["hessian"]
    for method in ("analytic", "custom", "autograd"):
        assert h[method] == [[2.0, 2.0], [2.0, 6.0]]
    assert payload["gradgradcheck"] is True and payload["ok"] is True
    sinc = json.loads(invoke(runner, "hessian", "sinc", "--x", "0", "--json").stdout)
    assert sinc["points"][0]["hessian"]["custom"][0][0] == pytest.approx(-1 / 3, rel=1e-15)


def test_many_points_summary_and_all(runner):
    result = invoke(runner, "grad", "sinc", "--x=-5:5:25")
    assert result.exit_code == 0
    assert "20 of 25 points shown" in result.stdout and "worst custom point" in result.stdout
    assert "wrong at 1 point(s), e.g. x = 0: up to 16.0 digits" in result.stdout
    assert result.stdout.count("✓") == 20  # one table, a row per point shown
    everything = invoke(runner, "grad", "sinc", "--x=-5:5:25", "--all")
    assert "points shown" not in everything.stdout and everything.stdout.count("✓") == 25
    wide = invoke(runner, "grad", "sinc", "--x=-5:5:25", "--all-columns")
    assert all(name in wide.stdout for name in ("autograd", "finite diff", "custom"))


def test_configs_reproduce_the_report(runner):
    for name, var, want in (("sinc", "x", -0.4353977749799916), ("softplus", "x", 0.6224593312018546)):
        payload = json.loads(invoke(runner, "grad", "--config", f"configs/{name}.yaml", "--json").stdout)
        assert payload["points"][0]["gradients"][var]["analytic"] == pytest.approx(want, rel=1e-15)
    quad = json.loads(invoke(runner, "grad", "--config", "configs/quad.yaml", "--x", "2", "--json").stdout)
    assert quad["points"][0]["inputs"] == {"x": 2.0, "y": 1.0}  # the flag overrides the file


def test_plot_writes_png(runner, tmp_path):
    for command in ("grad", "hessian"):
        result = invoke(runner, command, "sinc", "--x", "2", "--plot", "--out", str(tmp_path), "--json")
        assert result.exit_code == 0
        (path,) = json.loads(result.stdout)["plots"]
        data = open(path, "rb").read()
        assert data.startswith(b"\x89PNG") and len(data) > 20_000


@pytest.mark.parametrize("args,message", [
    (["grad", "tanh"], "unknown function 'tanh'; known functions: sinc, quad, softplus"),
    (["grad", "sinc", "--y", "1"], "sinc does not take --y (it takes --x)"),
    (["grad", "softplus", "--a", "1"], "softplus does not take --a"),
    (["grad", "sinc", "--x", "nan"], "option --x: 'nan' is not a finite number"),
    (["grad", "sinc", "--x", "inf"], "option --x: 'inf' is not a finite number"),
    (["grad", "sinc", "--x", "1,,2"], "option --x: empty entry"),
    (["grad", "sinc", "--x", "1:2"], "option --x: range '1:2' must be start:stop:count"),
    (["grad", "sinc", "--x", "1:2:0"], "range count must be between 1 and"),
    (["grad", "sinc", "--x", "abc"], "'abc' is not a number"),
    (["grad", "quad", "--x", "1,2", "--y", "1,2,3"], "x has 2, y has 3"),
    (["grad"], "which function?"),
    (["hessian", "quad", "--a", "nan"], "option --a: expected a finite number"),
    (["grad", "sinc", "--dtype", "float16"], "float16"),
])
def test_bad_input_exits_2_with_one_line(runner, args, message):
    result = invoke(runner, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_trace_and_autograd_graph_on_grad(runner):
    result = invoke(runner, "grad", "sinc", "--x", "2", "--trace", "--autograd-graph")
    assert result.exit_code == 0
    for text in ("1/x", "sin(x)", "v2 (mul swaps)", "-1/x²", "SincBackward",
                 "ReciprocalBackward0", "SinBackward0", "dynamic graph"):
        assert text in result.stdout


def test_trace_json_and_graph_files(runner, tmp_path):
    result = invoke(runner, "hessian", "softplus", "--x", "0.5,1", "--trace", "--graph", "--autograd-graph",
                    "--out", str(tmp_path), "--json")
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    nodes = {n["name"]: n for n in payload["trace"]["nodes"]}
    assert set(nodes) == {"x", "v1", "v2", "v3", "v4"}  # Figure 7, at the first point
    assert nodes["x"]["value"] == 0.5 and nodes["x"]["grad"] == pytest.approx(0.2350037122015945, rel=1e-14)
    assert {"from", "to", "local", "upstream", "downstream"} <= set(payload["trace"]["edges"][0])
    assert "AccumulateGrad (x)" in json.dumps(payload["autograd_graph"]["custom"])  # f' was recorded
    assert sorted(p.split("/")[-1] for p in payload["files"]) == ["hessian-softplus-graph.dot",
                                                                  "hessian-softplus-graph.png"]
    assert [p.split("/")[-1] for p in payload["plots"]] == ["hessian-softplus-graph.png"]  # figures only


def test_regress_trace(runner, tmp_path):
    result = invoke(runner, "regress", "--trace", "--graph", "--autograd-graph", "--out", str(tmp_path))
    assert result.exit_code == 0
    assert "1/N = 1/4" in result.stdout and "MeanBackward0" in result.stdout
    assert (tmp_path / "regress-graph.png").exists() and (tmp_path / "regress-graph.dot").exists()
