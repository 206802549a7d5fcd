"""Everything a user or a script can throw at the CLI: exit 1 or 2, one line on stderr,
no traceback, and with --json nothing but (at most) one JSON object on stdout."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backpropcli.cli import app
from backpropcli.io.files import write_atomic, write_text

BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00"


def check_contract(result, json_output: bool, codes=(0, 1, 2)):
    """The CLI contract, whatever the input."""
    assert result.exit_code in codes, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code == 2 or (result.exit_code == 1 and not json_output and result.stderr):
        assert result.stderr.count("\n") == 1, result.stderr  # one clear line
        assert result.stderr.startswith("error: ")
    if json_output and result.stdout.strip():
        json.loads(result.stdout)  # exactly one JSON object, nothing else
    if json_output and result.exit_code == 2:
        assert result.stdout == ""


def run(runner, args):
    result = runner.invoke(app, args)
    check_contract(result, "--json" in args)
    return result


NUMBER_GARBAGE = ["abc", "", "nan", "NaN", "inf", "-inf", "1e999", "--", "0x10"]

MATRIX = [
    # regress: every option, bad values
    *[(["regress", "--lr", v], 2) for v in NUMBER_GARBAGE + ["1,2", "0", "-1", "-1e-300"]],
    *[(["regress", "--iters", v], 2) for v in ["0", "-5", "1.5", "abc", "", "1e3", "100000001"]],
    *[(["regress", opt, v], 2) for opt in ("--w0", "--b0", "--tol") for v in ["abc", "nan", "inf", ""]],
    (["regress", "--tol", "0"], 2),
    (["regress", "--log-every", "-1"], 2),
    (["regress", "--dtype", "float16"], 2),
    (["regress", "--device", "tpu"], 2),
    (["regress", "--w0", "1e300"], 2),  # does not fit in float32
    (["regress", "--w0", "1e300", "--dtype", "float64"], 1),  # the first loss overflows: diverged
    (["regress", "--lr", "1e300"], 2),  # does not fit in float32
    (["regress", "--lr", "1e30", "--json"], 1),
    (["regress", "--lr", "0.5", "--json"], 1),
    (["regress", "--w0", "1e-300", "--b0", "-1e-300", "--json"], 0),  # tiny is fine
    (["regress", "--config"], 2),
    (["regress", "--unknown"], 2),
    (["regress", "extra-argument"], 2),
    # grad / hessian
    *[([cmd, "sinc", "--x", v], 2) for cmd in ("grad", "hessian") for v in NUMBER_GARBAGE + ["1,,2", ",", "1:", "::",
      "1:2", "1:2:0", "1:2:-3", "1:2:2.5", "1:2:x", "1:2:3:4", "nan:1:3", "1:inf:3", "-1e308:1e308:3",
      "0:1:1000001"]],
    *[([cmd, "quad", "--" + p, v], 2) for cmd in ("grad", "hessian") for p in "abc" for v in ["abc", "nan", "inf", ""]],
    (["grad", "sinc", "--y", "1"], 2),
    (["grad", "softplus", "--a", "1"], 2),
    (["hessian", "sinc", "--c", "1"], 2),
    (["grad", "tanh"], 2),
    (["grad", ""], 2),
    (["grad"], 2),
    (["hessian", "quad", "--x", "1,2", "--y", "1,2,3"], 2),
    (["grad", "sinc", "--dtype", "int8"], 2),
    # huge and tiny numbers are answered, correctly
    *[([cmd, fn, "--x", v, "--json"], 0) for cmd in ("grad", "hessian") for fn in ("sinc", "softplus")
      for v in ["1.7976931348623157e308", "-1.7976931348623157e308", "5e-324", "-5e-324", "1e-300", "0"]],
    (["grad", "quad", "--x", "1e200", "--y", "1e200", "--json"], 0),  # overflows where the truth does
    (["grad", "sinc", "--dtype", "float32", "--x", "1e38,1e-45,0", "--json"], 0),
    # report
    (["report", "--config-dir", "/nonexistent"], 2),
    (["report", "--unknown"], 2),
    # the app itself
    (["frobnicate"], 2),
    (["--nope"], 2),
]


@pytest.mark.parametrize("args,code", MATRIX, ids=[" ".join(a) for a, _ in MATRIX])
def test_bad_input_matrix(runner, args, code):
    result = run(runner, args)
    assert result.exit_code == code, result.output


# name: (text for regress, text for a function command, what the message says)
CONFIG_CASES = {
    "unknown key": ("speed: 3\n", "speed: 3\n", "unknown key"),
    "wrong type": ("iters: many\n", "x: [many]\n", "expected"),
    "list item": ("x: [1, two]\n", "x: [1, two]\n", "key 'x"),
    "bool for number": ("lr: true\n", "x: true\n", "key "),
    "duplicate key": ("lr: 1\nlr: 2\n", "x: 1\nx: 2\n", "duplicate key"),
    "alias bomb": ('a: &a ["lol","lol"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]\n', "aliases"),
    "deep nesting": ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "syntax": ("lr: [0.1\n", "invalid YAML"),
    "not a mapping": ("[1, 2]\n", "expected a mapping"),
    "scalar": ("42\n", "expected a mapping"),
    "tab indent": ("lr:\n\t- 1\n", "invalid YAML"),
    "python tag": ("lr: !!python/object/apply:os.getcwd []\n", "invalid YAML"),
    "function is a list": ("", "function: [sinc]\n", "key 'function'"),
}


@pytest.mark.parametrize("command", [["regress"], ["grad"], ["hessian"]])
@pytest.mark.parametrize("case", CONFIG_CASES, ids=list(CONFIG_CASES))
def test_bad_config_files(runner, tmp_path, command, case):
    texts = CONFIG_CASES[case]
    regress_text, function_text, message = texts if len(texts) == 3 else (texts[0], texts[0], texts[1])
    if command == ["regress"] and not regress_text:
        pytest.skip("regress has no `function` key")
    text = regress_text if command == ["regress"] else function_text
    if command != ["regress"] and case != "function is a list":
        command = [*command, "sinc"]
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = run(runner, [*command, "--config", str(path), "--json"])
    assert result.exit_code == 2, result.output
    assert str(path) in result.stderr and message in result.stderr


@pytest.mark.parametrize("kind", ["missing", "empty", "binary", "folder"])
def test_unusable_config_files(runner, tmp_path, kind):
    path = tmp_path / "c.yaml"
    if kind == "empty":
        path.write_text("")
    elif kind == "binary":
        path.write_bytes(BINARY)
    elif kind == "folder":
        path.mkdir()
    result = run(runner, ["regress", "--config", str(path), "--json"])
    assert result.exit_code == (0 if kind == "empty" else 2)  # an empty config means: all defaults


def test_python_tag_never_runs(runner, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "c.yaml"
    path.write_text(f"lr: !!python/object/apply:os.system ['touch {marker}']\n")
    result = run(runner, ["regress", "--config", str(path)])
    assert result.exit_code == 2 and not marker.exists()


@pytest.mark.parametrize("content", [None, "", "x,y\n", BINARY, "x,y\n1,2\n3\n", "x;y\n1;2\n3;4\n", "x,y\n1,2\n1,2\n",
                                     "x,y\n1,nan\n2,3\n", "x,y\n1,2\n2,1e999\n", "folder"])
def test_bad_data_files(runner, tmp_path, content):
    path = tmp_path / "d.csv"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = run(runner, ["regress", "--data", str(path), "--json"])
    assert result.exit_code == 2 and "data file" in result.stderr and str(path) in result.stderr


@pytest.mark.parametrize("command", [["regress", "--plot"], ["grad", "sinc", "--plot"], ["hessian", "quad", "--graph"],
                                     ["regress", "--graph"], ["report"]])
def test_output_folder_that_cannot_be_created(runner, tmp_path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out in (blocker / "sub", Path("/proc/backprop-cannot-write-here")):
        result = run(runner, [*command, "--out", str(out)])
        assert result.exit_code == 1 and "output folder" in result.stderr, result.output
        assert result.stdout == ""  # failed before computing anything


# ---- fuzzing -----------------------------------------------------------------------------------

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["", "abc", "1e999", "-0", "1e-320", "0x1p3", " 2 ", "1_000"]),
)
points = st.one_of(
    numbers,
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=4).map(lambda v: ",".join(map(repr, v))),
    st.tuples(st.floats(-50, 50), st.floats(-50, 50), st.integers(-2, 12)).map(lambda t: f"{t[0]}:{t[1]}:{t[2]}"),
    st.text(alphabet=":,.-e0123456789 ", max_size=12),
)
OPTIONS = {
    "regress": {"--lr": numbers, "--iters": st.integers(-3, 300).map(str), "--w0": numbers, "--b0": numbers,
                "--dtype": st.sampled_from(["float32", "float64", "float16"]), "--tol": numbers,
                "--log-every": st.integers(-1, 50).map(str), "--device": st.sampled_from(["cpu", "gpu", "auto"])},
    "grad": {"--x": points, "--y": points, "--a": numbers, "--b": numbers, "--c": numbers,
             "--dtype": st.sampled_from(["float32", "float64", "x"])},
}
OPTIONS["hessian"] = OPTIONS["grad"]
FLAGS = {"regress": ["--no-zero-grad", "--trace", "--autograd-graph"], "grad": ["--trace", "--autograd-graph", "--all"],
         "hessian": ["--trace", "--autograd-graph"]}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    args = [command]
    if command != "regress":
        args.append(draw(st.sampled_from(["sinc", "quad", "softplus", "nope"])))
    for option in draw(st.lists(st.sampled_from(sorted(OPTIONS[command])), max_size=4, unique=True)):
        # --option=value, so that a value starting with '-' is not read as an option
        args.append(f"{option}={draw(OPTIONS[command][option])}")
    args += draw(st.lists(st.sampled_from(FLAGS[command]), max_size=2, unique=True))
    if draw(st.booleans()):
        args.append("--json")
    return args


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_fuzz_command_lines(args):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, args)
    check_contract(result, "--json" in args)


# ---- files: atomic, and Ctrl-C leaves nothing behind --------------------------------------------


def test_write_atomic_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "figure.png"
    target.write_text("the old, complete file")

    def half_then_interrupted(tmp: Path):
        tmp.write_text("half a fi")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, half_then_interrupted)
    assert target.read_text() == "the old, complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]  # no temp file left
    write_text(target, "new")
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_ctrl_c_during_a_long_run_exits_130_and_leaves_no_partial_file(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "backpropcli", "regress", "--iters", "50000000", "--log-every", "200", "--plot",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "100"})
    line = proc.stderr.readline()  # training has started once the first log line arrives
    assert line.startswith("step"), line
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = [line for line in stderr.splitlines() if not line.startswith("step")]
    assert lines == ["error: interrupted (SIGINT); no partial files were left behind"]
    assert "Traceback" not in stdout + stderr
    assert list(out.iterdir()) == []  # the folder was prepared, nothing half-written in it


@pytest.mark.parametrize("flag", ["--config", "--data"])
def test_endless_device_files_are_refused_by_the_byte_cap(runner, flag):
    # st_size is 0 for /dev/zero: only a capped read stops it
    result = run(runner, ["regress", flag, "/dev/zero"])
    # a CSV is read line by line: its first "line" of NUL bytes is refused after 64 KB
    assert result.exit_code == 2 and ("larger than" in result.stderr or "not a UTF-8 text file" in result.stderr)


def test_written_files_follow_the_umask_and_keep_an_existing_mode(tmp_path):
    old = os.umask(0o077)
    try:
        fresh = write_text(tmp_path / "fresh.txt", "a")
    finally:
        os.umask(old)
    assert fresh.stat().st_mode & 0o777 == 0o600
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    write_text(kept, "new")
    assert kept.read_text() == "new" and kept.stat().st_mode & 0o777 == 0o640


# ---- issue 14: hostile input, signals and resources ----------------------------------------------------

MATRIX_14 = [
    (["grad", "sinc", "--x=1e-400"], 2),  # underflows to 0: refused like an overflow
    (["grad", "sinc", "--x=1,-1e-400"], 2),
    (["regress", "--bogus"], 2),
    (["grad", "sinc", "--max-memory", "lots"], 2),
    (["grad", "sinc", "--max-memory", "0GB"], 2),
    (["grad", "sinc", "--max-memory", "10MB"], 2),  # below what the interpreter itself needs
    *[([cmd, fn, "--x=-1e308,0,1e308", "--plot"], 0) for cmd in ("grad", "hessian") for fn in ("sinc", "softplus")],
    (["grad", "sinc", "--x=1.7976931348623157e308", "--plot"], 0),
    (["hessian", "quad", "--x=1e308", "--y=1e308", "--plot"], 0),
]


@pytest.mark.parametrize("args,code", MATRIX_14, ids=[" ".join(a) for a, _ in MATRIX_14])
def test_bad_input_matrix_issue_14(runner, tmp_path, args, code):
    if "--plot" in args:
        args = [*args, "--out", str(tmp_path / "out")]
    result = run(runner, args)
    assert result.exit_code == code, result.output


def test_bogus_option_suggests_nothing_unrelated(runner):
    result = run(runner, ["regress", "--bogus"])
    assert "Possible options" not in result.stderr
    result = run(runner, ["regress", "--ouut", "x"])
    assert "--out" in result.stderr  # a real typo still gets its suggestion


def test_underflow_is_named(runner):
    result = run(runner, ["grad", "sinc", "--x=1e-400"])
    assert "underflows" in result.stderr


CONFIG_CASES_14 = {
    "complex key ?": "? [a, b]\n: 1\n",
    "complex key flow": "{x: 1}: 2\n",
    "complex key set": "? !!set {a}\n: 1\n",
    "400-digit integer": f"lr: {'1' * 400}\n",
    "400-digit integer in a list": f"x: [{'1' * 400}]\n",
    "5000-digit integer": f"lr: {'1' * 5000}\n",
}


@pytest.mark.parametrize("command", [["regress"], ["grad", "sinc"]])
@pytest.mark.parametrize("case", CONFIG_CASES_14, ids=list(CONFIG_CASES_14))
def test_hostile_yaml(runner, tmp_path, command, case):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG_CASES_14[case])
    result = run(runner, [*command, "--config", str(path), "--json"])
    assert result.exit_code == 2 and str(path) in result.stderr, result.output


def test_function_name_in_a_config_names_file_and_key(runner, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("function: Sinc\n")
    result = run(runner, ["grad", "--config", str(path)])
    assert result.exit_code == 2 and str(path) in result.stderr and "key 'function'" in result.stderr


def test_fsum_overflow_is_a_divergence_not_a_traceback(runner, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("x: [1e308, 1.7e308]\ny: [1, 2]\n")
    result = run(runner, ["regress", "--dtype", "float64", "--config", str(path), "--plot", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "diverged" in result.stderr


@pytest.mark.parametrize("cell", ["1_000", "\u0661", "0x10", "\u00bd", "1e5_0"])
def test_csv_cells_are_plain_decimal_numbers(runner, tmp_path, cell):
    path = tmp_path / "d.csv"
    path.write_text(f"x,y\n{cell},1\n2,3\n3,4\n", encoding="utf-8")
    result = run(runner, ["regress", "--data", str(path)])
    assert result.exit_code == 2 and "row 2" in result.stderr


def test_huge_csv_values_plot(runner, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n-1e308,1\n1e308,2\n0,3\n")
    result = run(runner, ["regress", "--dtype", "float64", "--data", str(path), "--plot", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "diverged" in result.stderr  # the loss overflows; the figures are drawn
    assert (tmp_path / "o" / "regress-line.png").exists()


def test_json_config_does_not_echo_default_data(runner, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n0,1\n1,3\n2,5\n")
    result = run(runner, ["regress", "--data", str(path), "--json"])
    config = json.loads(result.stdout)["config"]
    assert config["x"] is None and config["y"] is None and config["data"] == str(path)


def test_a_path_with_newline_and_escape_stays_one_line(runner, tmp_path):
    path = tmp_path / "bad\nname\x1b[31m.yaml"
    result = run(runner, ["regress", "--config", str(path)])
    assert result.exit_code == 2 and "\\n" in result.stderr and "\\x1b" in result.stderr


# ---- the memory budget --------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["grad", "sinc", "--x=0:1:1000000"],
    ["hessian", "quad", "--x=0:1:300000", "--y=0:1:300000"],
    ["grad", "sinc", "--x=0:1:200000", "--all"],
    ["regress", "--iters", "100000000", "--max-memory", "1GB", "--log-every", "1"],
])
def test_over_budget_is_refused_before_the_work(runner, tmp_path, args):
    out = tmp_path / "out"
    result = run(runner, [*args, "--plot", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "budget" in result.stderr and "--max-memory" in result.stderr and "BACKPROP_MAX_MEMORY" in result.stderr
    assert not any(line.startswith("step") for line in result.stderr.splitlines())  # not one step run
    assert not out.exists()  # not one file written


def test_budget_from_the_environment(runner, monkeypatch):
    monkeypatch.setenv("BACKPROP_MAX_MEMORY", "100MB")
    result = run(runner, ["grad", "sinc", "--x", "1"])
    assert result.exit_code == 2 and "100 MB budget" in result.stderr
    result = run(runner, ["grad", "sinc", "--x", "1", "--max-memory", "3GB", "--json"])  # the flag wins
    assert result.exit_code == 0


def test_budget_sizes():
    from backpropcli.io.budget import parse_size

    assert parse_size("2GB") == 2 * 10**9 and parse_size("1.5g") == 1_500_000_000
    assert parse_size("8GiB") == 8 * 2**30 and parse_size("3000") == 3000
    for bad in ["", "GB", "-1GB", "1XB", "0"]:
        with pytest.raises(ValueError):
            parse_size(bad)


def test_long_loss_history_is_an_array_of_float64():
    from array import array

    from backpropcli.config.models import RegressConfig
    from backpropcli.core.regression import train

    result = train(RegressConfig(iters=1000))
    assert isinstance(result.losses, array) and result.losses.itemsize == 8 and len(result.losses) == 1000


def test_streamed_json_is_the_same_document():
    import io
    from array import array

    from backpropcli.present.jsonfmt import dumps, write

    payload = {"a": [1.5, float("nan")], "losses": array("d", [1.0, float("inf"), 0.1] * 7000), "z": {"k": None}}
    for pretty in (False, True):
        stream = io.StringIO()
        write(payload, stream, pretty=pretty)
        assert json.loads(stream.getvalue()) == json.loads(dumps(payload))


# ---- report ------------------------------------------------------------------------------------------------


def _config_dir(tmp_path: Path, name: str = "cfg") -> Path:
    from importlib import resources

    folder = tmp_path / name
    folder.mkdir()
    shipped = resources.files("backpropcli") / "configs"
    for entry in shipped.iterdir():
        (folder / entry.name).write_text(entry.read_text())
    return folder


def test_report_config_for_another_function(runner, tmp_path):
    folder = _config_dir(tmp_path)
    (folder / "quad.yaml").write_text("function: sinc\n")
    result = run(runner, ["report", "--config-dir", str(folder), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "quad.yaml" in result.stderr and "key 'function'" in result.stderr
    assert not any((tmp_path / "r").iterdir())


def test_report_escapes_the_outside_and_describes_the_run(runner, tmp_path):
    folder = _config_dir(tmp_path, "cfg<img src=x onerror=alert(1)>")
    import re

    for name in ("regress.yaml", "regress-converged.yaml"):
        text = (folder / name).read_text()
        text = re.sub(r"(?m)^x:.*$", "x: [1, 2, 3, 5]", re.sub(r"(?m)^y:.*$", "y: [2, 4, 6, 10]", text))
        (folder / name).write_text(text)
    out = tmp_path / "r"
    result = run(runner, ["report", "--config-dir", str(folder), "--out", str(out)])
    assert result.exit_code in (0, 1), result.output
    html = (out / "report.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x" in html
    markdown = (out / "report.md").read_text()
    assert "x = [1, 2, 3, 5]" in markdown and "x = [1, 2, 3, 4]" not in markdown
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging folder left


# ---- files: staging, locks, signals ------------------------------------------------------------------------


def test_staged_files_move_together_under_the_folder_lock(tmp_path):
    import fcntl
    import threading

    from backpropcli.io.files import Staging

    out = tmp_path / "out"
    with Staging(out) as stage:
        staged = [write_text(stage.folder / f"{name}.txt", name) for name in ("line", "loss", "config")]
        fd = os.open(out, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)  # another run is publishing its set
        mover = threading.Thread(target=stage.publish, args=(staged,))
        mover.start()
        mover.join(0.2)
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == []  # waits its turn
        os.close(fd)
        mover.join()
    assert sorted(p.name for p in out.iterdir()) == ["config.txt", "line.txt", "loss.txt"]


def test_an_interrupt_swallowed_by_python_is_not_lost(runner, monkeypatch):
    """A KeyboardInterrupt raised in a GC callback is only printed ("Exception ignored"); the
    handler remembers it and the run ends with 130, not 0."""
    from backpropcli.io import streams

    def swallowed(phase, info):
        if phase == "start" and streams.SIGNALS.received is None:
            try:
                streams.SIGNALS.handler(signal.SIGINT, None)
            except KeyboardInterrupt:
                pass  # what Python does with an exception in a GC callback

    monkeypatch.setattr(streams.SIGNALS, "received", None)
    import gc

    gc.callbacks.append(swallowed)
    try:
        result = runner.invoke(app, ["regress", "--iters", "2000", "--json"])
    finally:
        gc.callbacks.remove(swallowed)
    assert result.exit_code == 130 and "interrupted (SIGINT)" in result.stderr
    assert streams.SIGNALS.received is None  # reported once, then cleared


def _cli(args, env=None, encoding="utf-8"):
    return subprocess.run([sys.executable, "-m", "backpropcli", *args], capture_output=True, encoding=encoding,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_sigterm_during_report_leaves_nothing_and_exits_143(tmp_path):
    out = tmp_path / "report"
    proc = subprocess.Popen([sys.executable, "-m", "backpropcli", "report", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the report creates its staging folder once the configs are read: terminate mid-way
    while not (out.exists() and any(out.iterdir())) and proc.poll() is None:
        pass
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the report finished before the signal arrived")
    assert proc.returncode == 143, stderr
    assert stderr == "error: interrupted (SIGTERM); no partial files were left behind\n"
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"PYTHONIOENCODING": "latin-1"}])
def test_non_utf8_stdout_falls_back_to_ascii(env):
    result = _cli(["grad", "sinc", "--x", "2", "--trace", "--autograd-graph"], env, env["PYTHONIOENCODING"])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "df/dx" in result.stdout and "->" in result.stdout


def test_unwritable_stdout_is_one_line_and_exit_1():
    with open("/dev/full", "w") as full:
        for args in (["grad", "sinc", "--x", "2"], ["grad", "sinc", "--x", "2", "--json"]):
            result = subprocess.run(
                [sys.executable, "-m", "backpropcli", *args], stdout=full, stderr=subprocess.PIPE, text=True,
                timeout=120)
            assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
            assert result.stderr.startswith("error: cannot write to standard output")


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_closed_stdout_is_one_line_and_exit_1(json_flag):
    result = subprocess.run([sys.executable, "-m", "backpropcli", "grad", "sinc", "--x", "2", *json_flag],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120,
                            preexec_fn=lambda: os.close(1))
    assert result.returncode == 1 and result.stderr == "error: cannot write to standard output: it is closed\n"


def test_environment_cannot_break_the_output(tmp_path):
    env = {"MPLBACKEND": "nonsense", "COLUMNS": "0", "LINES": "0"}
    result = _cli(["grad", "sinc", "--plot", "--out", str(tmp_path)], env)
    assert result.returncode == 0 and "wrote" in result.stdout, result.stderr
    result = _cli(["grad", "sinc", "--x", "abc"], env)
    assert result.returncode == 2 and result.stderr.startswith("error: option --x")
