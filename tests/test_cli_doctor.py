"""`backprop check TARGET`: the issue's commands, exit codes 0/1/2, the --json contract, the loader's
one-line errors, and the tables as golden text."""

import json
import re
import sys
import textwrap

import pytest
from conftest import check_golden, render_plain

from backpropcli.cli import app
from backpropcli.doctor.diagnose import CAPABILITIES, Capability, Diagnosis, Finding, Gradient, Point, diagnose
from backpropcli.doctor.loader import load
from backpropcli.present import terminal as render
from backpropcli.present.terminal import check as check_render

EXAMPLE = "examples/my_ops.py"


def run(runner, *args):
    return runner.invoke(app, ["check", *args])


# ---- the three commands of the issue ---------------------------------------------------------------


def test_the_buggy_example_fails_with_its_findings(runner):
    result = run(runner, f"{EXAMPLE}:MySinc", "--x=-5:5:101")
    assert result.exit_code == 1, result.output
    out = result.stdout
    for text in ("What examples/my_ops.py:MySinc supports", "torch.func.vmap", "ignores-grad-output",
                 "nan-where-finite", "no-setup-context", "21 of 101 points shown", "FAILED"):
        assert text in out, text
    assert result.stderr.startswith("error: check failed for examples/my_ops.py:MySinc: ignores-grad-output")
    assert result.stderr.count("\n") == 1


def test_a_registered_reference_is_the_truth(runner):
    result = run(runner, f"{EXAMPLE}:MySinc", "--x=-5:5:101", "--reference", "sinc", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["truth"] == "reference" and payload["reference"] == "sinc"
    at_zero = payload["points"][50]["gradients"]["x"]
    assert at_zero["truth_source"] == "reference" and at_zero["analytic"] == 0.0 and at_zero["custom"] == "nan"
    fixed = run(runner, f"{EXAMPLE}:MySincFixed", "--x=-5:5:101", "--reference", "sinc")
    assert fixed.exit_code == 0, fixed.output
    assert "findings: none" in fixed.stdout and "✗" not in fixed.stdout


def test_an_expression_reference(runner):
    pytest.importorskip("backpropcli.expressions")  # the expression language lands on its own branch
    result = run(runner, f"{EXAMPLE}:MySinc", "--x=-5:5:101", "--reference", "sin(x)/x", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["truth"] == "reference" and "ignores-grad-output" in [f["code"] for f in payload["findings"]]


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
    assert set(payload) >= {"command", "target", "ok", "capabilities", "findings", "points", "files", "plots"}
    assert payload["command"] == "check" and payload["target"] == "mypackage.ops:Gelu" and payload["ok"] is True
    assert payload["files"] == [] and payload["plots"] == []
    assert [(c["name"], c["ok"]) for c in payload["capabilities"]] == [(name, True) for name in CAPABILITIES]
    assert payload["findings"] == [] and len(payload["points"]) == 41
    g = payload["points"][0]["gradients"]["x"]
    assert set(g) == {"analytic", "custom", "autograd", "finite_difference", "truth_source", "abs_error", "ok"}
    assert result.stderr == ""


# ---- exit codes ----------------------------------------------------------------------------------


def test_warnings_alone_exit_0(runner):
    result = run(runner, "tests/doctor_gallery.py:OnceDifferentiable", "--x=-2:2:9")
    assert result.exit_code == 0, result.output
    assert "not-twice-differentiable" in result.stdout and "warning" in result.stdout and result.stderr == ""


def test_errors_exit_1_and_say_which(runner):
    result = run(runner, "tests/doctor_gallery.py:ForgotTheThree", "--x=-2:2:9", "--json")
    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["code"] == "scaled-by" and finding["factor"] == pytest.approx(1 / 3)
    assert "scaled-by" in result.stderr


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
    assert "give points with --x" in run(runner, f"{EXAMPLE}:MySinc").stderr
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
    assert payload["params"] == {"a": 1.0, "b": 2.0, "c": 4.0} and payload["truth"] == "reference"
    # d/dy (x² + 2xy + 4y²) at x = -1, y = 0.5
    assert payload["points"][0]["gradients"]["y"]["analytic"] == pytest.approx(2.0)


def test_float32_judges_the_custom_column_in_float32(runner):
    payload = json.loads(run(runner, f"{EXAMPLE}:MySincFixed", "--x=-5:5:11", "--dtype", "float32", "--json").stdout)
    assert payload["dtype"] == "float32" and payload["ok"] is True
    point = payload["points"][3]["gradients"]["x"]
    assert 1e-12 < point["abs_error"]["custom"] < 1e-6  # float32's error, not float64's
    wrong = json.loads(run(runner, "tests/doctor_gallery.py:Float32Output", "--x=-2:2:5", "--dtype", "float32",
                           "--json").stdout)
    assert "dtype-changed" not in [f["code"] for f in wrong["findings"]]  # float32 out for float32 in is right


# ---- the project's own Functions pass every capability ---------------------------------------------


@pytest.mark.parametrize("args", [
    ["backpropcli.functions.sinc:Sinc", "--x=-5:5:11"],
    ["backpropcli.functions.softplus:Softplus", "--x=-5:5:11"],
    ["backpropcli.functions.quad:Quad", "--x=-2:2:11", "--y", "1", "--a", "1", "--b", "2", "--c", "3"],
])
def test_the_projects_own_functions_pass_every_capability(runner, args):
    result = run(runner, *args, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["findings"] == [] and payload["ok"] is True
    assert [(c["name"], c["ok"]) for c in payload["capabilities"]] == [(name, True) for name in CAPABILITIES]


# ---- the tables as golden text ----------------------------------------------------------------------


def test_capabilities_and_findings_golden():
    result = diagnose(load(f"{EXAMPLE}:MySinc"), {"x": [-2.0, -1.0, 0.0, 1.0, 2.0]})
    shown = render_plain(check_render.capabilities(result)) + render_plain(check_render.findings(result))
    check_golden("check-mysinc.txt", shown)


def _cube(x: float, factor: float) -> Gradient:
    truth, custom = 3 * x * x, factor * 3 * x * x
    return Gradient(reference=None, custom=custom, autograd=truth, finite_difference=truth, truth=truth,
                    truth_source="autograd", abs_error={"custom": abs(custom - truth), "autograd": 0.0,
                                                        "finite_difference": 0.0}, ok=custom == truth)


def synthetic(n: int) -> Diagnosis:
    """A cube whose backward forgot the 3, with exact numbers (no rounding noise in the golden)."""
    xs = [float(i - n // 2) for i in range(n)]
    points = [Point({"x": x}, x ** 3, {"x": _cube(x, 1 / 3 if x > 5 else 1.0)}, x <= 5) for x in xs]
    capabilities = [Capability(name, True if i % 3 == 0 else (False if i % 3 == 1 else None), f"detail {i}")
                    for i, name in enumerate(CAPABILITIES)]
    finding = Finding("wrong-at-points", "error", "backward is wrong at some points", {"points": []})
    return Diagnosis("cube.py:Cube", "function", ["x"], {}, "autograd", False, capabilities, [finding], points, {})


def test_check_tables_golden():
    check_golden("check-synthetic.txt", render_plain(render.doctor(synthetic(30))))


def test_only_the_first_points_and_the_wrong_ones_unless_all():
    points = synthetic(30).points  # x = -15 ... 14; wrong where x > 5, i.e. from index 21
    assert check_render._shown_points(points, False) == [*range(20), None, *range(21, 30)]
    assert check_render._shown_points(points, True) == list(range(30))
    assert check_render._shown_points(synthetic(40).points, False) == [*range(20), None, *range(26, 40)]
    right = [p for p in synthetic(40).points if p.ok]  # 26 points, all right: the first 20, then an elision
    assert check_render._shown_points(right, False) == [*range(20), None]


# ---- what the hostile tester found --------------------------------------------------------------------


def test_a_point_whose_truth_overflows_is_not_checked_and_not_counted_as_right(runner):
    # (1e300)**3 overflows: the truth is inf/nan there, so nothing at that point can be judged
    result = run(runner, "tests/doctor_gallery.py:Cube", "--x=1e300", "--json")
    payload = json.loads(result.stdout)
    assert result.exit_code == 1 and payload["ok"] is False
    assert (payload["checked"], payload["unchecked"]) == (0, 1)
    assert [f["code"] for f in payload["findings"]] == ["nothing-checked"]
    assert all(c["ok"] is None for c in payload["capabilities"])  # no ✓ and no false accusation on inf
    backward = next(c for c in payload["capabilities"] if c["name"] == "backward")
    assert "the truth is not finite at any point" in backward["detail"]
    assert "nothing-checked" in result.stderr and result.stderr.count("\n") == 1
    text = run(runner, "tests/doctor_gallery.py:Cube", "--x=1e300").stdout
    assert "verdict    no point could be checked" in text and "ok: the first derivative is right" not in text


def test_only_the_points_with_a_finite_truth_are_judged_and_the_rest_counted(runner):
    payload = json.loads(run(runner, "tests/doctor_gallery.py:Cube", "--x=1,2,1e300", "--json").stdout)
    assert payload["ok"] is True and (payload["checked"], payload["unchecked"]) == (2, 1)
    caps = {c["name"]: c for c in payload["capabilities"]}
    assert "every checked point (2 of 3" in caps["backward"]["detail"]
    assert caps["grad-output"]["ok"] is True and caps["double-backward"]["ok"] is True
    text = run(runner, "tests/doctor_gallery.py:Cube", "--x=1,2,1e300").stdout
    assert "1 not checked (the truth is not finite there)" in text


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
    ("RaisesFwd", "calling RaisesFwd's forward on the points raised ValueError: boom in forward (" ),
    ("IntOut", "IntOut's forward returned an integer tensor (int64): autograd cannot differentiate it; "
               "return a floating tensor"),
])
def test_a_forward_check_cannot_call_is_a_usage_error(runner, tmp_path, name, message):
    (tmp_path / "odd.py").write_text(ODD)
    result = run(runner, f"{tmp_path / 'odd.py'}:{name}", "--x", "1")
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert result.stderr.count("\n") == 1
    if name == "RaisesFwd":
        assert "odd.py:22)" in result.stderr  # the user's line, not torch's
