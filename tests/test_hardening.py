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
from backpropcli.files import write_atomic, write_text

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
    lines = [l for l in stderr.splitlines() if not l.startswith("step")]
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
