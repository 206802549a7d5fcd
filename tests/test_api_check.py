"""check_function and assert_gradients from Python: the engine of `check`, to_dict() equal to its
--json, a readable GradientCheckError, tables for a notebook and plain text for a log."""

import importlib.util
import json
from pathlib import Path

import pytest

import backpropcli
from backpropcli.cli import app

# the tensor doctor's entry points (issue 21: doctor/build.subject_of); these tests run once it is merged
pytest.importorskip("backpropcli.doctor.build", reason="the tensor doctor (doctor/build.py) is not merged yet")

ROOT = Path(__file__).parent.parent
PROJECT = "tests/throwaway/project.py"


def _module(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def project():
    return _module(PROJECT)


def _json(runner, *args) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    payload = {k: v for k, v in json.loads(result.stdout).items() if k not in ("files", "plots")}
    if "cost" in payload:
        payload["cost"].pop("seconds", None)  # how long it took: not a result
    return payload


def test_check_function_to_dict_is_check_json(runner, monkeypatch, project):
    monkeypatch.chdir(ROOT)
    for name in ("Linear", "LinearTransposed"):
        result = backpropcli.check_function(getattr(project, name), project.make_inputs).to_dict()
        command = _json(runner, "check", f"{PROJECT}:{name}", "--inputs", f"{PROJECT}:make_inputs")
        # Python shows a warning once per process: the second run of the same code here sees none
        result.pop("warnings"), command.pop("warnings")
        # the command names its target as given (FILE.py:Name); from Python it is the Function's name
        assert result.pop("target") == name and command.pop("target").endswith(f":{name}")
        assert result == command
        assert result["ok"] is (name == "Linear")
    named = backpropcli.check_function(project.Linear, project.make_inputs, name="my Linear", capabilities=[])
    assert named.diagnosis.target == "my Linear" and named.capabilities == []


def test_inputs_as_a_tuple_or_keywords_and_the_result_fields(project):
    x, weight, bias = project.make_inputs()
    by_position = backpropcli.check_function(project.Linear, (x, weight, bias))
    by_name = backpropcli.check_function(project.Linear, {"x": x, "weight": weight, "bias": bias})
    for result in (by_position, by_name):
        assert result.ok and not result.errors
        assert [i.name for i in result.inputs] == ["x", "weight", "bias"]
        assert all(c.ok is not False for c in result.capabilities)
    assert x.grad is None  # the user's tensors are never touched


def test_assert_gradients_raises_an_assertion_error_naming_code_input_and_fix(project):
    assert backpropcli.assert_gradients(project.Linear, project.make_inputs).ok
    with pytest.raises(backpropcli.GradientCheckError) as caught:
        backpropcli.assert_gradients(project.LinearTransposed, project.make_inputs)
    error = caught.value
    assert isinstance(error, AssertionError)
    (finding,) = error.result.errors
    assert finding.input == "weight" and finding.severity == "error" and finding.fix
    lines = str(error).splitlines()
    assert lines[0] == "LinearTransposed: 1 gradient error"
    assert lines[1].startswith(f"  {finding.code}: input weight")
    assert f"    fix: {finding.fix}" in lines


def test_a_check_shows_itself_as_tables_and_as_plain_text(project):
    result = backpropcli.check_function(project.LinearTransposed, project.make_inputs)
    page = result._repr_html_()
    assert page.count("<table") >= 2 and "weight" in page and "FAILED" in page
    report = result.report()
    assert "\x1b" not in report and report.startswith("check of LinearTransposed: FAILED")
    assert result.errors[0].code in report and "5x5" in report
    assert repr(result).startswith("<Check LinearTransposed: FAILED")
