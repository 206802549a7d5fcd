"""Any function the user types, through the command line: grad, hessian, views, JSON, configs,
the help's examples and hostile input. Numbers are checked against references written here
(mpmath differentiation of functions written in this file, exact rationals), never against
the package's sympy path."""

import json
import re
import shlex
import time
from fractions import Fraction
from pathlib import Path

import mpmath
import pytest
import references


def invoke(runner, *args):
    from backpropcli.cli import app

    return runner.invoke(app, list(args))


def payload_of(result) -> dict:
    return json.loads(result.stdout)


def diff(f, x0: float, n: int = 1, dps: int = 60) -> float:
    """The n-th derivative of f at x0 by mpmath's own numerical differentiation, at high precision."""
    with mpmath.workdps(dps):
        return float(mpmath.diff(f, mpmath.mpf(x0), n))


# ---- the five commands of the issue -------------------------------------------------------------


def test_grad_x_sin_x_prints_the_symbolic_derivative_and_is_right(runner):
    result = invoke(runner, "grad", "x*sin(x)", "--x", "2")
    assert result.exit_code == 0, result.output
    assert "f′(x)" in result.stdout and "x*cos(x) + sin(x)" in result.stdout
    assert "digits lost by autograd through the graph" in result.stdout
    payload = payload_of(invoke(runner, "grad", "x*sin(x)", "--x", "2", "--json"))
    assert payload["function"] == payload["expression"] == "x*sin(x)"
    assert payload["derivatives"] == {"df/dx": "x*cos(x) + sin(x)"}
    point = payload["points"][0]
    want = diff(lambda t: t * mpmath.sin(t), 2.0)
    assert point["gradients"]["x"]["analytic"] == pytest.approx(want, rel=1e-15)
    assert "custom" not in point["gradients"]["x"] and "custom" not in point["gradients"]["x"]["abs_error"]
    assert point["digits_lost"] < 2 and set(point["worst_node"]) == {"name", "expression", "digits_lost",
                                                                   "own_derivative"}
    assert payload["ok"] is True and payload["gradcheck"] is None  # no hand-written backward: judged by the truth


def test_cancellation_names_the_subtraction_and_exits_1(runner):
    result = invoke(runner, "grad", "(cos(x) - 1)/x**2", "--x", "1e-5", "--json")
    assert result.exit_code == 1
    point = payload_of(result)["points"][0]
    assert point["worst_node"]["expression"] == "cos(x) - 1" and point["worst_node"]["name"] == "v2"
    assert point["worst_node"]["digits_lost"] > 6 and point["digits_lost"] > 6
    assert "cancellation" in point["reason"]
    with mpmath.workdps(80):
        want = diff(lambda t: (mpmath.cos(t) - 1) / t**2, 1e-5, dps=80)
    assert point["gradients"]["x"]["analytic"] == pytest.approx(want, rel=1e-14)
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "at x = 1e-05: cancellation at v2 = cos(x) - 1" in errors[0]


def test_cancellation_on_a_range_gives_the_region_and_a_figure(runner, tmp_path):
    result = invoke(runner, "grad", "(cos(x) - 1)/x**2", "--x=1e-8:1:50", "--plot", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert re.search(r"precision +loses > 5.95 digits for x in \[1e-08, ", result.stdout)
    assert (tmp_path / "grad-cos_x_-_1_x_2.png").is_file()
    assert "worst at x = 1e-08: cancellation at v2 = cos(x) - 1" in result.stderr


def test_hessian_of_softplus_typed(runner):
    result = invoke(runner, "hessian", "log(1 + exp(x))", "--x", "0.5")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "f″(x)" in out and "f′ graph" in out and "f′ graph: autograd through the graph of the symbolic f′" in out
    payload = payload_of(invoke(runner, "hessian", "log(1 + exp(x))", "--x", "0.5", "--json"))
    assert set(payload["derivatives"]) == {"df/dx", "d2f/dx2"}
    hessian = payload["points"][0]["hessian"]
    want = references.softplus(0.5, 2)
    assert hessian["analytic"][0][0] == pytest.approx(want, rel=1e-15)
    for method in ("autograd", "derivative_graph"):  # reverse over reverse; autograd of the graph of f′
        assert hessian[method][0][0] == pytest.approx(want, rel=1e-13)
    assert "custom" not in hessian and payload["gradgradcheck"] is None


def test_quad_typed_with_parameters_and_trace(runner):
    args = ["grad", "a*x**2 + b*x*y + c*y**2", "--a", "1", "--b", "2", "--c", "3", "--x", "1", "--y", "1"]
    result = invoke(runner, *args, "--trace")
    assert result.exit_code == 0, result.output
    assert "its graph, one node per operation" in result.stdout and "chain rule along each edge" in result.stdout
    payload = payload_of(invoke(runner, *args, "--trace", "--json"))
    a, b, c, x, y = map(Fraction, (1, 2, 3, 1, 1))
    grads = payload["points"][0]["gradients"]
    assert grads["x"]["analytic"] == float(2 * a * x + b * y) and grads["y"]["analytic"] == float(b * x + 2 * c * y)
    assert payload["params"] == {"a": 1.0, "b": 2.0, "c": 3.0}
    assert [n["name"] for n in payload["trace"]["nodes"] if n["name"].startswith("v")][-1] == "v8"


def test_sin_x_over_x_at_zero_the_limit_and_the_nan(runner):
    result = invoke(runner, "grad", "sin(x)/x", "--x", "0", "--json")
    assert result.exit_code == 1
    point = payload_of(result)["points"][0]
    assert point["value_analytic"] == 1.0 and point["gradients"]["x"]["analytic"] == 0.0  # the limits
    assert point["gradients"]["x"]["autograd"] == "nan" and point["digits_lost"] > 15
    assert "removable singularity" in point["reason"]
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "at x = 0: nan at a removable singularity" in errors[0]


def test_graph_and_autograd_graph_of_an_expression(runner, tmp_path):
    result = invoke(runner, "grad", "x*sin(x)", "--x", "2", "--graph", "--autograd-graph", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "the expression's graph (one node per operation)" in result.stdout and "SinBackward0" in result.stdout
    assert (tmp_path / "grad-x_sin_x-graph.png").is_file() and (tmp_path / "grad-x_sin_x-graph.dot").is_file()


def test_an_expression_from_a_config_file(runner, tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text("function: 'x * sin(x)'\nx: [2, 3]\n")
    result = invoke(runner, "grad", "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    payload = payload_of(result)
    assert payload["expression"] == "x*sin(x)" and len(payload["points"]) == 2
    config.write_text("function: 'a*x**2'\nx: 2\n")
    result = invoke(runner, "grad", "--config", str(config))
    assert result.exit_code == 2 and "parameter a used in 'a*x**2' but not given" in result.stderr


def test_typed_sin_x_over_x_agrees_with_the_builtin_sinc_at_50_points(runner):
    typed = payload_of(invoke(runner, "grad", "sin(x)/x", "--x=-10:10:50", "--json"))
    builtin = payload_of(invoke(runner, "grad", "sinc", "--x=-10:10:50", "--json"))
    assert len(typed["points"]) == len(builtin["points"]) == 50
    for mine, theirs in zip(typed["points"], builtin["points"]):
        assert mine["inputs"] == theirs["inputs"]
        assert mine["gradients"]["x"]["analytic"] == pytest.approx(theirs["gradients"]["x"]["analytic"],
                                                                   rel=1e-15, abs=1e-300)
        assert mine["gradients"]["x"]["analytic"] == pytest.approx(references.sinc(mine["inputs"]["x"], 1),
                                                                   rel=1e-14)


def test_registered_names_keep_meaning_the_builtin(runner):
    from backpropcli import functions

    for name, spec in functions.REGISTRY.items():
        assert functions.resolve(name) is spec
    name = next(iter(functions.REGISTRY))
    payload = payload_of(invoke(runner, "grad", name, "--json"))
    assert "expression" not in payload
    assert "custom" in payload["points"][0]["gradients"][functions.REGISTRY[name].variables[0]]


# ---- refusals -------------------------------------------------------------------------------------

HOSTILE = [
    ("__import__('os').system('touch PWNED')", "not allowed"),
    ("x.__class__", "attribute"),
    ("x[0]", "subscript"),
    ("lambda: x", "lambda"),
    ("[x for x in (1, 2)]", "comprehension"),
    ("sin(x=1)", "keyword"),
    ("eval(x)", "unknown function 'eval'"),
    ("exec(x)", "unknown function 'exec'"),
    ("x if x else 1", "not allowed"),
    ("(y := x)", "not allowed"),
    ("9**9**9**9", "too large"),
    ("2**2**2**2**2**2", "too large"),
    ("x" + "+x" * 400, "too long"),
    ("1" + "-" * 300 + "x", "limit"),
    ("sin(" * 60 + "x" + ")" * 60, "limit"),
    ("foo", "unknown function 'foo'"),
    ("sinn(x)", "did you mean 'sin'"),
    ("sincc", "did you mean 'sinc'"),
    ("z*x", "unknown name 'z'"),
    ("a*x", "parameter a used in 'a*x' but not given"),
]


@pytest.mark.parametrize("text,message", HOSTILE)
def test_hostile_expressions_exit_2_with_one_line(runner, tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    invoke(runner, "grad", "x", "--x", "1")  # torch and sympy loaded: what is timed is the refusal
    start = time.perf_counter()
    result = invoke(runner, "grad", text, "--x", "1")
    elapsed = time.perf_counter() - start
    assert result.exit_code == 2, result.output
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors
    assert result.stdout == "" and "Traceback" not in result.output
    assert not (tmp_path / "PWNED").exists() and list(tmp_path.iterdir()) == []
    assert elapsed < 5.0  # well within a second on a quiet machine; a generous margin on a shared one


# ---- the help -------------------------------------------------------------------------------------


def _typed_examples(text: str) -> list[str]:
    """The help's example commands that type an expression (in quotes)."""
    return list(re.findall(r"\[cyan\](backprop [^\[]*'[^\[]*)\[/cyan\]", text))


@pytest.mark.parametrize("command", ["grad", "hessian"])
def test_help_explains_the_language_and_every_typed_example_runs(runner, tmp_path, command):
    from backpropcli.cli import derivatives as cli

    result = invoke(runner, command, "--help")
    assert result.exit_code == 0
    assert "pi" in result.stdout and "^" in result.stdout and "sigmoid" in result.stdout
    text = cli.GRAD_HELP if command == "grad" else cli.HESSIAN_HELP
    examples = _typed_examples(text)
    assert len(examples) >= 2
    for example in examples:
        args = shlex.split(example)[1:]
        if "--plot" in args or "--graph" in args:
            args += ["--out", str(tmp_path)]
        result = invoke(runner, *args)
        # exit 1 only where the help itself says so (a graph that breaks)
        expected = 1 if "exit 1" in text.split(example)[1].splitlines()[0] or "1e-8" in example else 0
        assert result.exit_code == expected, (example, result.output)
        assert "Traceback" not in result.output
    assert Path(tmp_path).exists()


@pytest.mark.parametrize("text,value,slope", [
    ("-x**2", lambda x: -x**2, lambda x: -2 * x),  # a negative product: sympy's cse once mixed up its scale
    ("0 - x**2", lambda x: -x**2, lambda x: -2 * x),
    ("-(x + 1)^2", lambda x: -(x + 1) ** 2, lambda x: -2 * (x + 1)),
    ("-3*x^3 + x/2", lambda x: -3 * x**3 + x / 2, lambda x: -9 * x**2 + Fraction(1, 2)),
])
def test_negative_products_against_exact_rationals(runner, text, value, slope):
    payload = payload_of(invoke(runner, "grad", "--x", "1,3", "--json", "--", text))
    assert payload["ok"] is True
    for point in payload["points"]:
        x = Fraction(point["inputs"]["x"])
        assert point["value_analytic"] == float(value(x))
        assert point["gradients"]["x"]["analytic"] == float(slope(x))


@pytest.mark.parametrize("text,second", [("pi", 0.0), ("3*x + 1", 0.0), ("abs(x)", 0.0), ("x*abs(x)", 2.0)])
def test_hessian_of_constant_and_piecewise_derivatives(runner, text, second):
    """A derivative that is a constant (no graph to differentiate) or autograd's zero tensor (sign')."""
    result = invoke(runner, "hessian", text, "--x", "1", "--json")
    assert result.exit_code == 0, result.output
    hessian = payload_of(result)["points"][0]["hessian"]
    assert hessian["analytic"] == hessian["autograd"] == [[second]]


@pytest.mark.parametrize("text", ["9**9**9**9", "x.__class__", "(y := x)", "x" + "+x" * 400])
def test_hostile_text_is_refused_before_torch_and_sympy_load(text):
    """In a fresh process: the refusal needs the parser only, so it comes well within a second."""
    import subprocess
    import sys

    code = ("import sys; from backpropcli.cli import main\n"
            f"sys.argv = ['backprop', 'grad', {text!r}, '--x', '1']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "print('LOADED', [m for m in ('torch', 'sympy', 'mpmath') if m in sys.modules], code, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "LOADED [] 2" in done.stderr and done.stderr.startswith("error: "), done.stderr
