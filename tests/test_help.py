"""Help that reads well at 80 columns, and every example in it runs and prints what it promises."""

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.main import get_command

from backpropcli.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("regress", "grad", "hessian", "check", "manual", "report")


def _help(runner, name: str) -> str:
    result = runner.invoke(app, [name, "--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0
    return result.stdout


def _cells(text: str) -> list[str]:
    return [line.strip("│ ").rstrip() for line in text.splitlines()]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_reads_well_at_80_columns(runner, name):
    text = _help(runner, name)
    assert max(map(len, text.splitlines())) <= 80
    assert "…" not in text and "<bool>" not in text, text
    assert "Arguments ─" not in text or name in ("grad", "hessian", "check", "manual"), "an empty panel"
    for line in _cells(text):
        words = line.split()
        # a hard line break leaves a word or two alone on a line ("1e-5 in / float32)")
        assert len(words) != 1 or words[0].startswith(("-", "[", "e.g.", "Example", "Usage", "╭", "╰", "FUNCTION",
                                                        "float", "cpu", "override", "instead")), line
    if name == "regress":
        for default in ("[default: 0.01]", "[default: 100]", "[default: 0.3]", "[default: -0.3]",
                        "[default: 0.001]"):
            assert default in text, default
    assert "jq .W" not in text or name == "regress"
    assert "configs/regress" not in text or name == "regress"


def _examples(text: str) -> list[str]:
    return [line for line in _cells(text) if line.startswith("backprop ")]


def _option_examples(name: str) -> list[str]:
    command = get_command(app).commands[name]
    found = []
    for param in command.params:
        for span in re.findall(r"\[cyan\](.*?)\[/cyan\]", param.help or ""):
            found.append(span)
    return found


def _jq(payload, path: str):
    """The value of a jq path like .points[0].gradients.x"""
    for key, index in re.findall(r"\.(\w+)|\[(\d+)\]", path.strip("'")):
        payload = payload[key] if key else payload[int(index)]
    return payload


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    for folder in ("configs", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ("regress", "grad", "hessian", "check", "manual"))
def test_every_example_in_help_runs(runner, workdir, name):
    text = _help(runner, name)
    examples = _examples(text)
    assert examples, text
    for example in examples:
        # an example may end in a note: "(... exit 1)" says the exit code it promises
        command, _, note = example.partition("   (")
        args = shlex.split(command)[1:]
        expected = 1 if "exit 1" in note else 0
        result = runner.invoke(app, args)
        assert result.exit_code == expected, f"{example}\n{result.output}"
        if "--json" in args:
            json.loads(result.stdout)
        elif expected == 0:
            assert "ok" in result.stdout or "converged" in result.stdout, result.stdout
        if "--plot" in args:
            assert any(line.startswith("wrote ") and line.endswith(".png") for line in result.stdout.splitlines())


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_example_parses_and_json_examples_print_a_value(runner, workdir, name):
    command = get_command(app).commands[name]
    base = {"grad": ["sinc"], "hessian": ["softplus"],
            "check": ["examples/my_ops.py:MySincFixed", "--x", "2"], "manual": ["examples/mlp_manual.py"]}.get(name, [])
    for example in _option_examples(name):
        if "| jq" in example:
            if name == "report":
                continue  # the report's --json is run in test_report_examples
            left, path = example.split("| jq")
            result = runner.invoke(app, [name, *base, *shlex.split(left)])
            assert result.exit_code == 0, result.output
            value = _jq(json.loads(result.stdout), path.strip())
            assert value is not None, f"{name} {example} prints null"
            continue
        args = shlex.split(example) if example.startswith("-") else [example]
        command.make_context(name, [*(base if args[0].startswith("-") else []), *args])


def test_report_examples(runner, workdir):
    text = _help(runner, "report")
    examples = _examples(text)
    assert "backprop report" in examples
    heavy = [e for e in examples if "--json" in e]
    assert heavy
    for example in heavy:
        left, _, path = example.partition("| jq")
        result = runner.invoke(app, shlex.split(left)[1:])
        assert result.exit_code == 0, result.output
        payload = json.loads(result.stdout)
        assert (_jq(payload, path.strip()) if path else payload["ok"]) is True
    # the plain example runs the same report and only prints a summary instead
    get_command(app).commands["report"].make_context("report", [])
