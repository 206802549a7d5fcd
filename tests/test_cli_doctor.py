"""`backprop check TARGET`: the issue's commands, exit codes 0/1/2, the --json contract (one object,
also on exit 2), --inputs, and the loader's one-line errors."""

import json
import re
import sys
import textwrap

import pytest

from backpropcli.cli import app

EXAMPLE = "examples/my_ops.py"


def run(runner, *args):
    return runner.invoke(app, ["check", *args])


# ---- the commands of the issues ----------------------------------------------------------------------


def test_the_buggy_example_fails_with_its_findings(runner):
    result = run(runner, f"{EXAMPLE}:MySinc", "--x=-5:5:101")
    assert result.exit_code == 1, result.output
    out = result.stdout
    for text in ("examples/my_ops.py:MySinc", "nan-where-finite", "FAILED"):
        assert text in out, text
    assert result.stderr.startswith("error: check failed for examples/my_ops.py:MySinc: ")
    assert result.stderr.count("\n") == 1


def test_a_registered_reference_is_the_truth(runner):
    result = run(runner, f"{EXAMPLE}:MySinc", "--x=-5:5:101", "--reference", "sinc", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["truth"] == "reference" and payload["reference"] == "sinc"
    (x,) = payload["inputs"]
    assert x["name"] == "x" and x["ok"] is False and x["shape"] == [101]
    fixed = run(runner, f"{EXAMPLE}:MySincFixed", "--x=-5:5:101", "--reference", "sinc")
    assert fixed.exit_code == 0, fixed.output
    assert "✗" not in fixed.stdout


def test_an_expression_reference(runner):
    result = run(runner, f"{EXAMPLE}:MySincFixed", "--x=-5:5:101", "--reference", "sin(x)/x", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["truth"] == "reference"


LINEAR = '''
import torch


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(x, weight, bias):
        return x @ weight.T + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return g @ weight, g.T @ x, g.sum(0)


class LinearT(Linear):
    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return g @ weight, x.T @ g, g.sum(0)


def linear(x, weight, bias):
    return torch.nn.functional.linear(x, weight, bias)


def make_inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    return x, w, torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)


def as_keywords():
    x, w, b = make_inputs()
    return {"x": x, "weight": w, "bias": b}


not_callable = 3
'''


@pytest.fixture
def linear(tmp_path):
    path = tmp_path / "linear.py"
    path.write_text(LINEAR)
    return str(path)


def test_inputs_from_make_inputs(runner, linear):
    right = run(runner, f"{linear}:Linear", "--inputs", f"{linear}:make_inputs", "--json")
    assert right.exit_code == 0, right.output
    payload = json.loads(right.stdout)
    assert payload["ok"] is True and payload["elementwise"] is False
    assert [(i["name"], i["shape"]) for i in payload["inputs"]] == [("x", [3, 4]), ("weight", [4, 4]), ("bias", [4])]
    assert payload["cost"]["forward_calls"] > 0 and payload["cost"]["backward_calls"] > 0
    wrong = run(runner, f"{linear}:LinearT", "--inputs", f"{linear}:as_keywords", "--json")
    assert wrong.exit_code == 1
    payload = json.loads(wrong.stdout)
    assert {f["input"] for f in payload["findings"] if f["severity"] == "error"} == {"weight"}
    assert "weight" in wrong.stderr


def test_a_reference_file(runner, linear):
    result = run(runner, f"{linear}:LinearT", "--inputs", f"{linear}:make_inputs", "--reference",
                 f"{linear}:linear", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["truth"] == "reference" and payload["reference"] == f"{linear}:linear"


def test_inputs_in_a_config_file(runner, linear, tmp_path):
    config = tmp_path / "check.yaml"
    config.write_text(f"target: {linear}:Linear\ninputs: {linear}:make_inputs\n")
    result = run(runner, "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


@pytest.mark.parametrize("args, message", [
    (["--inputs", "{linear}:nope"], "has no name 'nope'"),
    (["--inputs", "{linear}:not_callable"], "not a function returning the inputs"),
    (["--inputs", "{linear}:make_inputs", "--x", "1"], "not both"),
    (["--inputs", "{linear}:make_inputs", "--reference", "sinc"], "with --inputs the reference is FILE.py:fn"),
    (["--inputs", "{linear}:make_inputs", "--device", "tpu"], "device"),
])
def test_json_on_exit_2_is_one_object(runner, linear, args, message):
    result = run(runner, f"{linear}:Linear", *[a.format(linear=linear) for a in args], "--json")
    assert result.exit_code == 2, result.output
    payload = json.loads(result.stdout)
    assert payload["command"] == "check" and payload["ok"] is False
    assert message in payload["error"]["message"] and payload["error"]["kind"] in ("input", "config")
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_dtypes_below_float64(runner, linear):
    for dtype in ("float32", "bfloat16"):
        result = run(runner, f"{linear}:Linear", "--inputs", f"{linear}:make_inputs", "--dtype", dtype, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["dtype"] == dtype
    wrong = run(runner, f"{linear}:LinearT", "--inputs", f"{linear}:make_inputs", "--dtype", "float32")
    assert wrong.exit_code == 1


GELU = '''
import math

import torch


def _phi(x):
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def _gelu_prime(x):
    return _phi(x) + x * torch.exp(-x * x / 2) / math.sqrt(2 * math.pi)


class Gelu(torch.autograd.Function):
    """x * Phi(x); f' = Phi(x) + x phi(x), in torch ops so it is differentiable again."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x * _phi(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _gelu_prime(x)

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return _gelu_prime(x) * x_t
'''


@pytest.fixture
def package(tmp_path, monkeypatch):
    """`mypackage.ops` importable from the current folder, as the issue's third command expects."""
    (tmp_path / "mypackage").mkdir()
    (tmp_path / "mypackage" / "__init__.py").write_text("")
    (tmp_path / "mypackage" / "ops.py").write_text(GELU)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in ("mypackage.ops", "mypackage"):
        sys.modules.pop(name, None)


def test_a_package_module_with_json(runner, package):
    result = run(runner, "mypackage.ops:Gelu", "--x=-4:4:41", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # one JSON object, nothing else on stdout
    assert set(payload) >= {"command", "target", "ok", "capabilities", "findings", "inputs", "cost", "files",
                            "plots"}
    assert payload["command"] == "check" and payload["target"] == "mypackage.ops:Gelu" and payload["ok"] is True
    assert payload["files"] == [] and payload["plots"] == []
    assert all(c["ok"] is not False for c in payload["capabilities"])
    assert [f for f in payload["findings"] if f["severity"] == "error"] == []
    assert payload["inputs"][0]["shape"] == [41] and payload["elementwise"] is True
    assert result.stderr == ""


# ---- exit codes ----------------------------------------------------------------------------------


def test_errors_exit_1_and_say_which(runner):
    result = run(runner, "tests/doctor_gallery.py:ForgotTheThree", "--x=-2:2:9", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    (finding,) = [f for f in payload["findings"] if f["severity"] == "error"]
    assert finding["input"] == "x"
    assert finding["code"] in result.stderr


BROKEN = {
    "syntax.py": ("def f(x):\n    return x +\n", "syntax.py:2: syntax error"),
    "raises.py": ("import torch\nraise RuntimeError('no GPU here')\n", "raised RuntimeError: no GPU here"),
    "number.py": ("F = 3\n", "F is an int, neither a torch.autograd.Function subclass nor a callable"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_load_errors_exit_2_with_one_line(runner, tmp_path, name):
    source, message = BROKEN[name]
    (tmp_path / name).write_text(source)
    result = run(runner, f"{tmp_path / name}:F", "--x", "1")
    assert result.exit_code == 2 and result.stdout == ""
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("target, message", [
    ("examples/missing.py:F", "no such file: examples/missing.py"),
    (f"{EXAMPLE}:MySin", "has no name 'MySin'; did you mean 'MySinc'?"),
    ("no_such_package.ops:F", "no module named 'no_such_package'"),
    ("MySinc", "expected FILE.py:Name or package.module:Name"),
])
def test_missing_things_exit_2_with_one_line(runner, target, message):
    result = run(runner, target, "--x", "1")
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_debug_shows_the_users_traceback(runner, tmp_path):
    (tmp_path / "raises.py").write_text("import torch\n\n\ndef helper():\n    raise RuntimeError('no GPU here')\n\n\n"
                                        "helper()\n")
    result = run(runner, f"{tmp_path / 'raises.py'}:F", "--x", "1", "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "in helper" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: importing")


def test_usage_problems_exit_2(runner):
    assert "--inputs FILE.py:make_inputs" in run(runner, f"{EXAMPLE}:MySinc").stderr
    bad = run(runner, f"{EXAMPLE}:MySinc", "--x", "1:2")
    assert bad.exit_code == 2 and "option --x: range '1:2' must be start:stop:count" in bad.stderr
    unused = run(runner, f"{EXAMPLE}:MySinc", "--x", "1", "--a", "2")
    assert unused.exit_code == 2 and "--a: neither MySinc nor the reference takes it" in unused.stderr
    quad = run(runner, f"{EXAMPLE}:MySinc", "--x", "1", "--reference", "quad")
    assert quad.exit_code == 2 and "is a function of x, y" in quad.stderr
    assert run(runner).exit_code == 2


def test_params_by_name_and_a_config_file(runner, tmp_path):
    config = tmp_path / "check.yaml"
    config.write_text("target: backpropcli.functions.quad:Quad\nx: \"-1:1:5\"\ny: 0.5\na: 1\nb: 2\nc: 3\n")
    result = run(runner, "--config", str(config), "--c", "4", "--reference", "quad", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["truth"] == "reference" and [i["name"] for i in payload["inputs"]] == ["x", "y", "a", "b", "c"]
    assert [i["differentiable"] for i in payload["inputs"]] == [True, True, False, False, False]


def test_float32_judges_the_custom_gradient_in_float32(runner):
    payload = json.loads(run(runner, f"{EXAMPLE}:MySincFixed", "--x=-5:5:11", "--dtype", "float32", "--json").stdout)
    assert payload["dtype"] == "float32" and payload["ok"] is True
    (x,) = payload["inputs"]
    assert 1e-12 < x["max_abs_error"] < 1e-5  # float32's error, not float64's


@pytest.mark.parametrize("args", [
    ["backpropcli.functions.sinc:Sinc", "--x=-5:5:11"],
    ["backpropcli.functions.softplus:Softplus", "--x=-5:5:11"],
    ["backpropcli.functions.quad:Quad", "--x=-2:2:11", "--y", "1", "--a", "1", "--b", "2", "--c", "3"],
])
def test_the_projects_own_functions_pass(runner, args):
    result = run(runner, *args, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [f for f in payload["findings"] if f["severity"] == "error"] == [] and payload["ok"] is True
    assert all(c["ok"] is not False for c in payload["capabilities"])


# ---- what the hostile tester found --------------------------------------------------------------------


def test_a_point_whose_truth_overflows_is_not_checked_and_not_counted_as_right(runner):
    # (1e300)**3 overflows: the truth is inf/nan there, so nothing at that point can be judged
    result = run(runner, "tests/doctor_gallery.py:Cube", "--x=1e300", "--json")
    payload = json.loads(result.stdout)
    assert result.exit_code == 1 and payload["ok"] is False
    assert "nothing-checked" in [f["code"] for f in payload["findings"]]
    assert [f for f in payload["findings"] if f["severity"] == "error"] == []  # no false accusation on inf
    assert payload["inputs"][0]["ok"] is None
    assert "nothing-checked" in result.stderr and result.stderr.count("\n") == 1


def test_only_the_points_with_a_finite_truth_are_judged(runner):
    payload = json.loads(run(runner, "tests/doctor_gallery.py:Cube", "--x=1,2,1e300", "--json").stdout)
    assert payload["ok"] is True and payload["inputs"][0]["ok"] is True


def test_the_users_prints_go_to_stderr_so_json_stays_one_object(runner, tmp_path):
    (tmp_path / "noisy.py").write_text(textwrap.dedent("""
        import sys
        print("hello from import")
        sys.stdout.write("junk")


        def loud(x):
            print("loud forward")
            return x * x
    """))
    result = run(runner, f"{tmp_path / 'noisy.py'}:loud", "--x", "1,2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["command"] == "check"  # the whole of stdout is one JSON object
    assert "hello from import" in result.stderr and "junk" in result.stderr and "loud forward" in result.stderr


@pytest.mark.parametrize("source, message", [
    ("import os\nos._exit(0)\n", "called os._exit(0)"),
    ("import sys\nsys.exit(0)\n", "raised SystemExit: 0"),
    ("raise KeyboardInterrupt\n", "raised KeyboardInterrupt"),
])
def test_a_module_that_exits_or_interrupts_at_import_is_a_load_error(runner, tmp_path, source, message):
    (tmp_path / "quits.py").write_text(source)
    result = run(runner, f"{tmp_path / 'quits.py'}:F", "--x", "1")
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert message in result.stderr and f"quits.py:{source.count(chr(10))}" in result.stderr
    assert result.stderr.count("\n") == 1 and "interrupted" not in result.stderr


EXITS_IN_BACKWARD = """
import os
import torch


class F(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return 2 * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        {body}
"""


@pytest.mark.parametrize("body, message", [
    ("os._exit(0)", "called os._exit(0)"),
    ("raise SystemExit(0)", "called sys.exit(0)"),
])
def test_exiting_while_being_checked_fails_instead_of_passing(runner, tmp_path, body, message):
    (tmp_path / "quits.py").write_text(EXITS_IN_BACKWARD.format(body=body))
    result = run(runner, f"{tmp_path / 'quits.py'}:F", "--x", "1")
    assert result.exit_code == 1 and message in result.stderr, result.output


@pytest.mark.parametrize("source, code, where", [
    ("import torch\nwhile True:\n    pass\n", 2, r"hang\.py:[23] in <module>"),  # the loop's line or its body's
    (EXITS_IN_BACKWARD.format(body="while True:\n            pass"), 1, r"hang\.py:1[78] in backward"),
])
def test_a_hang_ends_at_the_timeout_naming_its_line(runner, tmp_path, source, code, where):
    (tmp_path / "hang.py").write_text(source)
    result = run(runner, f"{tmp_path / 'hang.py'}:F", "--x", "1", "--timeout", "1")
    assert result.exit_code == code, result.output
    assert "did not finish within 1 s (--timeout)" in result.stderr and re.search(where, result.stderr)
    assert result.stderr.count("\n") == 1


ODD = """
import torch


class KwOnly(torch.autograd.Function):
    @staticmethod
    def forward(x, *, k):
        return x * k

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        return g


class RaisesFwd(KwOnly):
    @staticmethod
    def forward(x):
        raise ValueError("boom in forward")


class IntOut(KwOnly):
    @staticmethod
    def forward(x):
        return x.long()
"""


@pytest.mark.parametrize("name, message", [
    ("KwOnly", "KwOnly.forward has a required keyword-only parameter 'k'"),
    ("RaisesFwd", "RaisesFwd raised ValueError: boom in forward when called on the inputs ("),
    ("IntOut", "IntOut is differentiable (it returned torch.int64)"),
])
def test_a_forward_check_cannot_call_is_a_usage_error(runner, tmp_path, name, message):
    (tmp_path / "odd.py").write_text(ODD)
    result = run(runner, f"{tmp_path / 'odd.py'}:{name}", "--x", "1")
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert result.stderr.count("\n") == 1
    if name == "RaisesFwd":
        assert "odd.py:22)" in result.stderr  # the user's line, not torch's


def test_plot_draws_the_worst_input(runner, linear, tmp_path):
    result = run(runner, f"{linear}:LinearT", "--inputs", "make_inputs", "--plot", "--out", str(tmp_path / "out"),
                 "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["plots"] == [str(tmp_path / "out" / "check-LinearT.png")] == payload["files"]
    assert (tmp_path / "out" / "check-LinearT.png").stat().st_size > 0
