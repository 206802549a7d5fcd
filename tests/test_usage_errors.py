"""Usage errors are decided before torch loads, wherever argv or the config holds the answer:
a bad point, an unknown function or option, an option the function does not take, a wrong type
in YAML. Each runs in a fresh process that reports which heavy modules it imported."""

import subprocess
import sys

import pytest

from backpropcli import functions
from backpropcli.config import signatures

PROBE = """
import sys, atexit
atexit.register(lambda: sys.__stderr__.write("HEAVY=" + ",".join(
    m for m in ("torch", "sympy", "mpmath", "matplotlib") if m in sys.modules) + "\\n"))
sys.argv = ["backprop", *sys.argv[1:]]
from backpropcli.cli import main
main()
"""


def test_the_light_signatures_equal_the_registry():
    for spec in functions.REGISTRY.values():
        light = signatures.builtin(spec.name)
        assert light is not None
        assert (light.name, light.variables, light.params) == (spec.name, spec.variables, spec.params)
        assert light.points == dict(spec.points) and light.param_defaults == dict(spec.param_defaults)
        assert light.summary == spec.summary
    assert signatures.builtin("spec") is None and signatures.builtin("no-such") is None


@pytest.mark.parametrize("args, message", [
    (["grad", "sinc", "--x=abc"], "option --x: 'abc' is not a number"),
    (["grad", "sinc", "--x", "1:2"], "must be start:stop:count"),
    (["hessian", "quad", "--x", "1", "--y", "z"], "option --y: 'z' is not a number"),
    (["grad", "sinc", "--y", "2"], "sinc does not take --y (it takes --x)"),
    (["grad", "nosuch", "--x", "1"], "unknown function 'nosuch'"),
    (["grad", "a*x", "--x", "1"], "parameter a used in 'a*x' but not given"),
    (["grad", "x**", "--x", "1"], "not a valid expression"),
    (["grad", "sinc", "--bogus"], "No such option: --bogus"),
    (["regress", "--lr", "-1"], "option --lr"),
    (["grad", "--config", "{bad}"], "key 'x': 'abc' is not a number"),
    (["grad", "--config", "{typed}"], "key 'a': expected a number, got '1'"),
    (["grad", "--config", "{unknown}"], "key 'Sinc'"),
    (["check", "nofile.py:F", "--inputs", "make_inputs"], "no such file: nofile.py"),
    (["check", "{bad}:F", "--inputs", "missing.py:make_inputs"], "no such file: missing.py"),
])
def test_usage_errors_come_before_torch(tmp_path, args, message):
    files = {"bad": "function: sinc\nx: abc\n", "typed": "function: quad\nx: 1\ny: 2\na: '1'\n",
             "unknown": "function: sinc\nx: 1\nSinc: 2\n"}
    for key, text in files.items():
        (tmp_path / f"{key}.yaml").write_text(text)
    args = [a.format(**{k: str(tmp_path / f"{k}.yaml") for k in files}) for a in args]
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    heavy = [line for line in done.stderr.splitlines() if line.startswith("HEAVY=")][-1]
    assert heavy == "HEAVY=", f"{args}: {heavy}"
