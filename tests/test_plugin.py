"""The pytest plugin as a user meets it: a throwaway project whose test file uses the
check_gradients fixture (tests/throwaway/project.py), run by pytest in a subprocess. The correct
Function passes; the buggy one fails with its finding's code, the input's name and the fix, in the
terminal and in JUnit XML."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

# check_gradients runs the tensor doctor (issue 21): these tests run once doctor/build.py is merged
pytest.importorskip("backpropcli.doctor.build", reason="the tensor doctor (doctor/build.py) is not merged yet")

ROOT = Path(__file__).parent.parent
PROJECT = Path(__file__).parent / "throwaway" / "project.py"


def test_the_plugin_is_registered_by_the_package():
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    assert entry == {"backprop": "backpropcli.pytest_plugin"}
    from backpropcli import pytest_plugin

    assert pytest_plugin.check_gradients


def _registered() -> bool:
    """Is the installed package's entry point there? (An install older than it needs -p.)"""
    return any(e.value == "backpropcli.pytest_plugin" for e in metadata.entry_points(group="pytest11"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("project")
    (folder / "test_linear.py").write_text(PROJECT.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    plugin = [] if _registered() else ["-p", "backpropcli.pytest_plugin"]
    done = subprocess.run([sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "--color=no",
                           "--junitxml", str(folder / "junit.xml"), "test_linear.py"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600, check=False)
    return done, folder


@pytest.fixture(scope="module")
def expected():
    """What the check finds in the buggy Function, asked in this process."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("throwaway_project", PROJECT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import backpropcli

    assert backpropcli.check_function(module.Linear, module.make_inputs).ok
    errors = backpropcli.check_function(module.LinearTransposed, module.make_inputs).errors
    assert errors and {f.input for f in errors} == {"weight"}
    return errors


def test_the_correct_function_passes_and_the_buggy_one_fails_readably(run, expected):
    done, _ = run
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 failed, 1 passed" in out
    assert "FAILED test_linear.py::test_linear_transposed" in out and "test_linear.py::test_linear " not in out
    failure = out.split("test_linear_transposed", 1)[1]
    for finding in expected:
        assert f"{finding.code}: input weight" in failure
        assert f"fix: {finding.fix}" in failure
    assert "backprop check: LinearTransposed" in failure  # the report section with the tables
    assert "\x1b[" not in out
    assert "site-packages" not in failure.split("short test summary")[0]  # the checker's frames are hidden


def test_junit_xml_carries_the_same_message(run, expected):
    _, folder = run
    cases = {c.get("name"): c for c in ET.parse(folder / "junit.xml").getroot().iter("testcase")}
    assert cases["test_linear"].find("failure") is None
    failure = cases["test_linear_transposed"].find("failure")
    for finding in expected:
        assert finding.code in failure.get("message") and "input weight" in failure.get("message")
        assert finding.fix in failure.get("message")
    assert "backprop check: LinearTransposed" in failure.text and "code" in failure.text
