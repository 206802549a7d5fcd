"""`backprop manual`: each classic mistake gives exactly its finding on exactly its step, the steps
after it inheriting; the correct examples pass; the user's code's errors are one line, exit 2."""

import json
from pathlib import Path

import pytest
import torch

from backpropcli.cli import app
from backpropcli.doctor import manual
from backpropcli.doctor.grads import Event, Record

HERE = Path(__file__).parent / "manual"
EXAMPLES = Path(__file__).parent.parent / "examples"


def judged(name: str, folder: Path = HERE):
    path = folder / name
    inputs, forward, backward = manual.load(path)
    return manual.check_manual(forward, backward, inputs, file=str(path))


def statuses(result) -> dict[str, str]:
    return {s.name: s.status for s in result.steps}


# ---- right code passes ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["correct.py", "accumulate.py", "fill_rows.py"])
def test_a_correct_backward_is_exact_or_close_at_every_step(name):
    result = judged(name)
    assert result.ok and result.first_wrong is None
    for s in result.steps:
        if s.name == "hidden":
            assert s.status == "not-an-intermediate" and s.local_ok
            continue
        assert s.status in ("exact", "close") and s.local_ok and not s.findings and s.inherits_from is None, s
    assert [s.name for s in result.steps][:4] == ["r", "h", "W", "b"]


def test_a_backward_in_another_dtype_reads_its_own_dtype_back_when_judged_alone():
    """A float32 forward, a float64 backward: alone, the true gradient it reads back is cast to the
    dtype it wrote, or its float64 @ float32 would raise where its own run does not."""
    result = judged("float64_backward.py")
    assert result.ok and result.end_to_end_failure is None
    assert [(s.name, s.status in ("exact", "close")) for s in result.steps] == [("z", True), ("w", True)]


def test_the_correct_mlp_example_passes_every_step():
    result = judged("mlp_manual.py", EXAMPLES)
    assert result.ok, [(s.name, s.status) for s in result.steps if s.status not in ("exact", "close")]
    assert len(result.steps) == 23 and all(s.status in ("exact", "close") for s in result.steps)
    assert result.end_to_end_failure is None


def test_an_accumulation_reads_its_own_partial_sum_when_judged_alone():
    """grads["r"] += ... reads r and writes r back: alone, that read is the student's own partial
    sum (else the step would add to the whole true gradient and look wrong)."""
    record = Record([Event("write", "r"), Event("read", "r"), Event("write", "r"), Event("read", "r"),
                     Event("write", "h")])
    assert record.accumulations() == {0}  # the first read adds to r; the second feeds h
    assert record.reads_of() == {"r": [], "h": ["r"]}


# ---- the verdict's rule ---------------------------------------------------------------------------


def test_the_verdict_rule_exact_close_wrong():
    truth = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    assert manual.verdict(truth.clone(), truth) == ("exact", 0.0)
    status, err = manual.verdict(truth * (1 + 1e-13), truth)
    assert status == "close" and err == pytest.approx(2e-13, rel=1e-3)
    assert manual.verdict(truth * (1 + 1e-9), truth)[0] == "wrong"
    assert manual.verdict(truth.reshape(3, 1), truth) == ("wrong", None)
    assert manual.verdict(None, truth) == ("missing", None)
    nan = truth.clone()
    nan[1] = float("nan")
    assert manual.verdict(nan, truth)[0] == "wrong"


def test_a_gradient_zero_up_to_roundoff_is_judged_against_its_upstreams_size():
    """∂loss/∂(a softmax's shift) is 0 up to roundoff of terms as large as the upstream gradient."""
    truth = torch.tensor([4e-18, -3e-18], dtype=torch.float64)
    mine = torch.tensor([1.4e-16, 9e-17], dtype=torch.float64)
    assert manual.verdict(mine, truth)[0] == "wrong"
    assert manual.verdict(mine, truth, upstream=0.03)[0] in ("exact", "close")


def test_missing_gradients_are_listed_and_a_missing_parameter_fails():
    result = judged("missing_param.py")
    assert statuses(result)["b"] == "missing"
    assert not result.ok and result.first_wrong is None and result.missing_leaves == ["b"]


# ---- each classic mistake: its finding, on its step, the steps after it inheriting ----------------

MISTAKES = [  # file, the wrong step, its one finding, the steps that inherit its error
    ("scaled.py", "r", "scaled-by", ["h", "W", "b"]),
    ("sign.py", "h", "sign-flipped", ["W", "b"]),
    ("relu_mask.py", "h", "wrong-at-points", ["W", "b"]),
    ("transposed.py", "W", "transposed", []),
    ("broadcast.py", "b", "missing-broadcast-sum", []),
]


@pytest.mark.parametrize(("name", "step", "code", "after"), MISTAKES)
def test_each_classic_mistake_gives_exactly_its_finding_on_its_step(name, step, code, after):
    result = judged(name)
    assert not result.ok and result.first_wrong == step
    wrong = result.step(step)
    assert wrong.status == "wrong" and not wrong.local_ok
    assert [f.code for f in wrong.findings] == [code]
    assert wrong.findings[0].severity == "error"
    for s in result.steps:
        if s.name == step:
            continue
        assert not s.findings and s.local_ok, s
        if s.name in after:
            assert s.status == "wrong" and s.inherits_from == step, s
        else:
            assert s.status in ("exact", "close") and s.inherits_from is None, s


def test_the_findings_carry_what_they_name():
    scaled = judged("scaled.py").step("r").findings[0]
    assert scaled.extra["factor"] == pytest.approx(32)  # the mean over 8 × 4 elements
    mask = judged("relu_mask.py").step("h").findings[0]
    assert mask.extra["condition"]["input"] == "h" and mask.extra["condition"]["value"] == 0
    broadcast = judged("broadcast.py").step("b").findings[0]
    assert list(broadcast.extra["dims"]) == [0]


def test_the_buggy_mlp_names_its_three_mistakes():
    result = judged("mlp_manual_buggy.py", EXAMPLES)
    codes = {s.name: [f.code for f in s.findings] for s in result.steps if s.findings}
    assert codes == {"logprobs": ["scaled-by"], "W2": ["wrong-shape"], "b2": ["missing-broadcast-sum"]}
    assert result.first_wrong == "logprobs"
    assert result.step("logprobs").findings[0].extra["factor"] == pytest.approx(32)
    assert result.step("W2").findings[0].extra.get("transposed") or \
        result.step("W2").findings[0].extra.get("transpose_note")
    assert result.step("h").inherits_from == "logprobs"


def test_a_gradient_changed_in_place_after_it_was_written_is_named_with_the_step_that_did():
    """g = grads["r"]; g[mask] = 0; grads["h"] = g: h's gradient is right, r's no longer is, and no
    upstream error explains it: r is the root cause, changed in place by the step writing h."""
    result = judged("in_place.py")
    assert not result.ok and result.first_wrong == "r"
    r = result.step("r")
    assert r.status == "wrong" and [f.code for f in r.findings] == ["changed-in-place"]
    assert r.findings[0].extra["by"] == "h"
    assert all(s.status in ("exact", "close") and s.local_ok for s in result.steps if s.name != "r")
    assert judged("accumulate.py").ok  # grads["r"] += ... changes r in place too, rightly
    alias = judged("alias_mask.py")  # h = r's tensor, then h masked in place: r changes with it
    assert alias.first_wrong == "r" and [f.code for f in alias.step("r").findings] == ["changed-in-place"]
    assert alias.step("r").findings[0].extra["by"] == "h" and alias.step("h").status == "exact"


def test_a_gradient_written_in_parts_each_replacing_the_last_is_named_when_the_parts_sum_to_the_truth():
    result = judged("replaced.py")
    assert result.first_wrong == "h"
    h = result.step("h")
    assert [f.code for f in h.findings] == ["replaced-not-added"] and h.findings[0].extra["count"] == 2
    assert result.step("x").inherits_from == "h"
    # the same parts added (+=, or h = h + ...) are right; a part written twice but not summing to
    # the truth keeps its own finding (W2 = W2 * 2 reads W2 back: not a replacement)
    assert [f.code for f in judged("accumulate.py").step("r").findings] == []


def test_a_kept_dim_is_the_wrong_shape_not_a_missing_sum_and_the_loss_seed_is_a_step():
    """b's gradient .sum(0, keepdim=True): summed already, only of shape (1, 4); grads["loss"] = 1.0
    is the seed ∂loss/∂loss, exact, not "forward returns no loss"."""
    result = judged("keepdim.py")
    assert statuses(result) == {"loss": "exact", "r": "exact", "h": "exact", "W": "exact", "b": "wrong"}
    finding = result.step("b").findings[0]
    assert [f.code for f in result.step("b").findings] == ["wrong-shape"] and finding.extra["reshaped"]
    assert tuple(finding.extra["got"]) == (1, 4) and result.first_wrong == "b"
    assert [f.code for f in judged("broadcast.py").step("b").findings] == ["missing-broadcast-sum"]


def test_a_gradient_filled_in_place_row_by_row_is_the_students_own_when_judged_alone():
    """grads["h"] = zeros, then grads["h"][i] = ...: alone, those reads of h are the student's own
    tensor (as an accumulation's), or the rows would go into a copy of the truth and h stay 0."""
    assert judged("fill_rows.py").ok
    result = judged("fill_rows_no_mask.py")
    assert result.first_wrong == "h" and [f.code for f in result.step("h").findings] == ["wrong-at-points"]
    assert result.step("W").inherits_from == "h"


def test_a_run_broken_end_to_end_by_a_wrong_shape_is_still_judged_step_by_step():
    """h's gradient transposed breaks W's matmul end to end; alone every other step is right."""
    result = judged("shape_breaks.py")
    assert "mat1 and mat2" in result.end_to_end_failure and "shape_breaks.py:8" in result.end_to_end_failure
    assert statuses(result) == {"r": "exact", "h": "wrong", "W": "wrong", "b": "wrong"}
    assert [f.code for f in result.step("h").findings] == ["wrong-shape"]
    assert result.step("W").inherits_from == "h" and result.step("W").local_ok


# ---- the command ----------------------------------------------------------------------------------


def test_the_command_passes_the_correct_example(runner):
    result = runner.invoke(app, ["manual", str(EXAMPLES / "mlp_manual.py")])
    assert result.exit_code == 0, result.output
    assert "ok: every step of backward is right" in result.stdout


def test_a_gradient_for_an_input_not_differentiated_says_so(runner):
    """grads["x"] for an input without requires_grad: nothing to judge, and not "forward returns no x"."""
    result = runner.invoke(app, ["manual", str(HERE / "input_grad.py")])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("x "))
    assert "not-an-intermediate" in row and "an input without" in row, row  # the rest may wrap
    assert "forward returns no x" not in result.stdout
    result = runner.invoke(app, ["manual", str(HERE / "constant.py")])  # a mask forward returns
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("mask "))
    assert "not-an-intermediate" in row and "needs no gradient" in row, row


def test_json_is_one_object_in_the_issues_shape(runner, tmp_path):
    result = runner.invoke(app, ["manual", str(HERE / "correct.py"), "--json", "--plot", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["command"] == "manual" and payload["ok"] is True and payload["first_wrong"] is None
    step = payload["steps"][0]
    assert set(step) == {"name", "shape", "status", "local_ok", "max_abs_error", "inherits_from", "findings"}
    assert step["name"] == "r" and step["shape"] == [8, 4] and step["status"] == "exact"
    assert payload["plots"] and all(Path(p).is_file() for p in payload["plots"])


def test_a_wrong_at_points_without_a_condition_lists_the_elements_its_fix_refers_to(runner):
    """The fix says "at the elements listed": the terminal lists them (check's table has a place column)."""
    result = runner.invoke(app, ["manual", str(HERE / "points.py")])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    at = lines.index("  at: [0, 1], [5, 3]")  # the two stray writes, before the fix that refers to them
    assert lines[at - 1].endswith("is wrong at 2 of 32 elements") and "the elements listed" in lines[at + 1]


def test_a_wrong_step_exits_1_and_names_the_root_cause(runner):
    result = runner.invoke(app, ["manual", str(HERE / "scaled.py")])
    assert result.exit_code == 1
    assert "scaled-by" in result.stdout and "fix:" in result.stdout
    assert "the first wrong step is r" in result.stderr


ERRORS = [  # file, what the one line says
    ("no_backward.py", "defines no backward()"),
    ("not_scalar.py", "must be the scalar loss, got a tensor of shape (4,)"),
    ("raises.py", "backward raised ValueError: half-way"),
    ("not_tensor.py", "grads['r'] must be a tensor, got str"),
    ("exits.py", "sys.exit(3)"),
    ("unwritten.py", "read grads['h'] before any step wrote it"),
    ("missing_file.py", "no such file"),
    ("impossible_shape.py", "grads['W'] of shape (3, 5), which no gradient of W (4, 4) can have"),
]


@pytest.mark.parametrize(("name", "says"), ERRORS)
def test_the_users_errors_are_one_line_and_exit_2(runner, name, says):
    result = runner.invoke(app, ["manual", str(HERE / name)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and says in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    if name in ("raises.py", "unwritten.py", "exits.py"):
        assert f"{name}:" in lines[-1]  # the user's own file and line
    assert "end check" not in lines[-1]  # the exit is refused in the words of backprop, not of another command


def test_json_on_exit_2_is_one_error_object(runner):
    result = runner.invoke(app, ["manual", str(HERE / "raises.py"), "--json"])
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert payload["command"] == "manual" and payload["ok"] is False
    assert "half-way" in payload["error"]["message"] and payload["error"]["kind"] == "input"


def test_a_hang_stops_at_the_timeout_naming_its_line(runner):
    result = runner.invoke(app, ["manual", str(HERE / "hangs.py"), "--timeout", "0.5"])
    assert result.exit_code == 2
    assert "--timeout" in result.stderr and ("hangs.py:5" in result.stderr or "hangs.py:6" in result.stderr)


def test_debug_shows_the_users_traceback(runner):
    result = runner.invoke(app, ["manual", str(HERE / "raises.py"), "--debug"])
    assert result.exit_code == 2 and "Traceback" in result.stderr and "half-way" in result.stderr


def test_html_writes_the_explorer_page_with_the_students_gradients(runner, tmp_path):
    page = tmp_path / "manual-correct-explorer.html"  # into --out, named as grad's pages are
    result = runner.invoke(app, ["manual", str(HERE / "correct.py"), "--html", "--out", str(tmp_path), "--trace"])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "yours" in text and "wrong gradient" not in text.split("<script>")[0]
    assert "computed from" in result.stdout  # the --trace table
    assert f"wrote {page}" in result.stdout


def test_the_explorer_trace_is_the_true_graph():
    from backpropcli.doctor import manual_trace

    inputs, forward, backward = manual.load(HERE / "correct.py")
    result = manual.check_manual(forward, backward, inputs, graph=True)
    trace = manual_trace.trace_of(result)
    assert [n.name for n in trace.nodes] == ["W", "b", "h", "r", "loss"]
    assert {(e.source, e.target) for e in trace.edges} == {("W", "h"), ("b", "h"), ("h", "r"), ("r", "loss")}
    assert trace.consistent(1e-12)  # each node's gradient is the sum of what its edges send back



def test_plot_writes_the_errors_and_the_root_causes_heatmaps(runner, tmp_path):
    result = runner.invoke(app, ["manual", str(HERE / "scaled.py"), "--plot", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 1
    plots = json.loads(result.stdout)["plots"]
    assert [Path(p).name for p in plots] == ["manual-scaled-errors.png", "manual-scaled-r.png"]
    assert all(Path(p).stat().st_size > 10_000 for p in plots)


def test_the_page_marks_only_the_steps_wrong_on_their_own(runner, tmp_path):
    page = tmp_path / "manual-mlp_manual_buggy-explorer.html"
    result = runner.invoke(app, ["manual", str(EXAMPLES / "mlp_manual_buggy.py"), "--html", "--out", str(tmp_path)])
    assert result.exit_code == 1
    marked = page.read_text().count('class="jump wrong"')
    assert marked == 3  # logprobs, W2, b2: not the 18 steps that only inherit


def test_json_findings_carry_the_words_and_the_numbers(runner):
    result = runner.invoke(app, ["manual", str(HERE / "scaled.py"), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and payload["first_wrong"] == "r"
    (finding,) = payload["steps"][0]["findings"]
    assert finding["code"] == "scaled-by" and finding["severity"] == "error" and finding["input"] == "r"
    assert finding["factor"] == pytest.approx(32) and "32" in finding["message"] and finding["fix"]
    assert [s["inherits_from"] for s in payload["steps"]] == [None, "r", "r", "r"]


def test_a_nodes_expression_shows_what_autograd_computed_it_from_in_order():
    """The explorer's titles: the ops down to the named tensors, in their argument order, with ·
    for the data (x has no gradient); the last op and the named parents alone read
    "add(b, W)" for x @ W + b, hiding the matmul, and a subtraction backwards."""
    import torch

    from backpropcli.doctor import manual_trace

    x = torch.randn(3, 4, dtype=torch.float64)
    w = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    h = x @ w + b
    d = h - h.mean(0, keepdim=True)
    named = {"W": w, "b": b, "h": h, "d": d}
    assert manual_trace.expression_of(h, named) == "add(mm(·, W), b)"
    assert manual_trace.expression_of(d, named) == "sub(h, mean(h))"
    assert manual_trace.expression_of(w, named) == "input"
