"""check_manual from Python: the engine of `manual`, to_dict() equal to its --json, the steps
table for a notebook, the step-error picture."""

import importlib.util
import json
from pathlib import Path

import pytest

import backpropcli
from backpropcli.cli import app

ROOT = Path(__file__).parent.parent


def _module(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _json(runner, *args) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    return {k: v for k, v in json.loads(result.stdout).items() if k not in ("files", "plots")}


def test_check_manual_from_a_file_or_from_its_functions(runner, monkeypatch):
    monkeypatch.chdir(ROOT)
    buggy = "examples/mlp_manual_buggy.py"
    result = backpropcli.check_manual(buggy)
    assert result.to_dict() == _json(runner, "manual", buggy)
    assert not result.ok and result.first_wrong and result.findings
    steps = {s["name"]: s for s in result.steps}
    assert result.first_wrong in {f.extra["step"] for f in result.findings}  # the root cause, named
    assert all(steps[f.extra["step"]]["status"] != "exact" for f in result.findings)
    module = _module(buggy)
    again = backpropcli.check_manual(module.forward, module.backward, module.inputs)
    assert again.first_wrong == result.first_wrong and [s["status"] for s in again.steps] == \
        [s["status"] for s in result.steps]
    page = result._repr_html_()
    assert page.count("<table") == 2 and result.first_wrong in page
    assert result.picture().png.startswith(b"\x89PNG")
    assert backpropcli.check_manual("examples/mlp_manual.py").ok
    with pytest.raises(TypeError, match="give all three"):
        backpropcli.check_manual(module.forward)
