"""CLI wiring: flags, config precedence, exit codes, the --json contract, help text."""

import json
import subprocess
import sys

import pytest
from typer.main import get_command

from backpropcli.cli import app


def run(runner, *args):
    return runner.invoke(app, list(args))


def test_version(runner):
    result = run(runner, "--version")
    assert result.exit_code == 0 and result.stdout.startswith("backprop ")


def test_regress_prints_table_and_honest_verdict(runner):
    result = run(runner, "regress", "--lr", "0.01", "--iters", "100")
    assert result.exit_code == 0, result.output
    assert "-0.6064835" in result.stdout and "-0.156986" in result.stdout
    assert "not converged yet" in result.stdout


def test_regress_json_contract(runner):
    result = run(runner, "regress", "--json")
    assert result.exit_code == 0
    payload = json.loads(result.stdout)  # nothing but one JSON object on stdout
    for key in ("command", "config", "W", "b", "final_loss", "losses", "optimum", "converged", "diverged", "plots"):
        assert key in payload
    assert payload["command"] == "regress"
    assert len(payload["losses"]) == 100
    assert payload["config"]["lr"] == 0.01 and payload["config"]["dtype"] == "float32"
    assert payload["optimum"]["W"] == pytest.approx(-1) and payload["converged"] is False
    assert result.stderr == ""


def test_regress_flags_override_config(runner, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("lr: 0.1\niters: 5\ndtype: float64\n")
    payload = json.loads(run(runner, "regress", "--config", str(config), "--iters", "7", "--json").stdout)
    assert payload["config"]["lr"] == 0.1 and payload["config"]["iters"] == 7
    assert len(payload["losses"]) == 7


def test_regress_plot_writes_figures_and_config(runner, tmp_path):
    out = tmp_path / "run"
    result = run(runner, "regress", "--plot", "--out", str(out), "--json")
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    figures = sorted(p.split("/")[-1] for p in payload["plots"])
    assert figures == ["regress-line.png", "regress-loss.png"]  # figures only
    assert sorted(p.split("/")[-1] for p in payload["files"]) == ["regress-config.yaml", *figures]
    for name in ("regress-line.png", "regress-loss.png"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    assert "lr: 0.01" in (out / "regress-config.yaml").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    plain = run(runner, "regress", "--plot", "--out", str(out))
    assert f"wrote {out / 'regress-line.png'}" in plain.stdout


def test_regress_divergence_exits_1_with_advice(runner):
    result = run(runner, "regress", "--lr", "0.5", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["diverged"] is True and payload["stopped_at"] is not None
    assert result.stderr.count("\n") == 1 and "2/lambda_max = 0.119756" in result.stderr


@pytest.mark.parametrize("args,code,message", [
    (["--lr", "0"], 2, "option --lr: input should be greater than 0"),
    (["--lr", "-1"], 2, "option --lr"),
    (["--lr", "nan"], 2, "option --lr: expected a finite number"),
    (["--lr", "inf"], 2, "option --lr: expected a finite number"),
    (["--lr", "abc"], 2, "Invalid value for '--lr'"),
    (["--iters", "0"], 2, "--iters"),
    (["--dtype", "float16"], 2, "float16"),
    (["--data", "/nonexistent.csv"], 2, "data file /nonexistent.csv: not found"),
    (["--config", "/nonexistent.yaml"], 2, "/nonexistent.yaml: config file not found"),
    (["--frobnicate"], 2, "No such option: --frobnicate"),
    (["--device", "cuda"], 2, "no CUDA device"),
])
def test_regress_errors_are_one_line(runner, args, code, message):
    result = run(runner, "regress", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_unwritable_output_folder_exits_1(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run(runner, "regress", "--plot", "--out", str(blocker / "sub"))
    assert result.exit_code == 1
    assert "cannot create output folder" in result.stderr and result.stdout == ""


def test_log_every(runner):
    result = run(runner, "regress", "--iters", "20", "--log-every", "10")
    assert result.stderr.splitlines()[0].split()[:2] == ["step", "10"]
    assert len(result.stderr.splitlines()) == 2
    # which loss: the one step N computed, before its update (the table's final loss is after it)
    assert "loss (before the update)" in result.stderr.splitlines()[0]


def test_python_m_entry_point():
    done = subprocess.run([sys.executable, "-m", "backpropcli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("backprop ")


@pytest.mark.parametrize("argv", [["--help"], ["grad", "--help"], ["hessian", "--help"]])
def test_help_imports_neither_torch_nor_matplotlib(argv):
    code = (f"import sys; from backpropcli.cli import main; sys.argv=['backprop', *{argv!r}];\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'matplotlib', 'mpmath', 'sympy', 'yaml') if m in sys.modules]\n"
            # a command's options make Typer's parser import pydantic; the app's --help does not
            + ("heavy += ['pydantic'] if 'pydantic' in sys.modules else []\n" if argv == ["--help"] else "") +
            "print('HEAVY', heavy, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in done.stderr


def _commands():
    group = get_command(app)
    return sorted(group.commands.items())


def test_every_command_has_help_with_an_example_and_every_option_one_too(runner):
    assert _commands(), "no commands registered"
    for name, command in _commands():
        result = run(runner, name, "--help")
        assert result.exit_code == 0
        assert "Example" in result.stdout, f"{name} --help shows no example"
        for param in command.params:
            if param.name == "help" or getattr(param, "is_flag", False):
                continue  # a plain flag's example would be the flag itself
            assert "e.g." in (param.help or ""), f"{name} {param.opts} has no example in its help"


def test_h_is_help(runner):
    assert run(runner, "regress", "-h").exit_code == 0


def test_check_names_its_reference(runner):
    from pathlib import Path

    target = str(Path(__file__).resolve().parents[1] / "examples" / "my_ops.py") + ":MySincFixed"
    result = runner.invoke(app, ["check", target, "--x", "2", "--reference", "sin(x)/x"], terminal_width=80,
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "--reference implementation: sin(x)/x" in result.stdout
