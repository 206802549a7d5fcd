"""How `check` shows a tensor Diagnosis: the registry's templates filled (present/findings.py), the
JSON payload (present/payloads.py), the terminal tables (present/terminal/check.py) and the figure
(present/figures/check.py), all from hand-built doctor.results objects."""

import json
import re

import pytest

from backpropcli.doctor.codes import CODES
from backpropcli.doctor.results import Capability, Cost, Diagnosis, Finding, InputReport
from backpropcli.present import findings, payloads

# a plausible, complete extra for every registered code (what the doctor and its probes emit)
EXTRAS = {
    "wrong-number-of-gradients": {"got": 1, "expected": 2, "s_got": "", "s_expected": "s", "names": "x, w"},
    "backward-raises": {"error": "RuntimeError: mat1 and mat2 shapes cannot be multiplied (my_ops.py:12)"},
    "wrong-shape": {"got": (4, 3), "want": (3, 4), "transposed": True},
    "transposed": {"hint": "x.T @ grad_output"},
    "missing-broadcast-sum": {"dims": [0], "hint": "grad_output.sum(0)"},
    "scaled-by": {"factor": 1 / 64, "meaning": "the number of elements (64): a sum's gradient where forward "
                  "takes a mean", "fix_hint": "drop the division by x.numel() in backward"},
    "sign-flipped": {},
    "returns-zero": {},
    "ignores-grad-output": {},
    "grad-output-misused": {},
    "swapped-gradients": {"other": "bias", "order": ["x", "weight", "bias"]},
    "shifted": {"direction": "-", "hint": "use an inclusive scan: torch.cumsum, not cumsum minus the element"},
    "wrong-at-points": {"count": 32, "total": 64, "condition": {"input": "x", "op": "<", "value": 0},
                        "hint": "the branch for x < 0", "worst": [{"index": (3,), "custom": 1.0, "truth": 0.0}]},
    "wrong-gradient": {"max_abs_error": 0.25, "worst_index": (2, 1)},
    "changed-in-place": {"by": "h", "when": "by the step that writes grads['h']"},
    "replaced-not-added": {"count": 2},
    "nan-where-finite": {"count": 2},
    "wrong-jvp": {},
    "wrong-non-contiguous": {},
    "grad-for-non-differentiable-input": {"why": "an int64 tensor"},
    "nondeterministic-backward": {"max_abs_difference": 0.125},
    "saved-tensor-modified": {"where": "in forward, after save_for_backward"},
    "low-precision-error": {"dtype": "float32", "ratio": 37.5, "k": 4},
    "compiled-gradient-differs": {},
    "nothing-checked": {"why": "the truth is not finite at any element"},
    "truth-uncertain": {"why": "autograd and the finite differences disagree", "count": 2},
    # grad and hessian's codes about points (their messages are filled by present/truths.py)
    "not-real": {"n": 1, "at": "x = -1"},
    "undefined-here": {"n": 2, "at": "x = 0"},
    "not-differentiable": {"n": 1, "at": "x = 0"},
    "numerical-truth": {"n": 3, "at": "x = 0", "note": "sympy's limit took longer than 1 s"},
    "value-differs": {"max_abs_difference": 1e-3},
    "dtype-changed": {"what": "the gradient for x", "got": "float32", "want": "float64"},
    "unsummed-broadcast-autograd-sums": {"got": (8, 4), "want": (4,), "dims": [0]},
    "surrogate-gradient": {"surrogate": "a straight-through estimator"},
    "wrong-second-derivative": {},
    "not-twice-differentiable": {"why": "backward is once_differentiable"},
    "no-setup-context": {"name": "MyLinear"},
    "no-jvp": {"why": "MyLinear defines no jvp"},
    "no-vmap-rule": {"why": "generate_vmap_rule is not set"},
    "fails-non-contiguous": {"why": "view size is not compatible with input tensor's size and stride"},
    "no-batched-grad": {"why": ".item() in backward"},
    "compile-fails": {"why": "Unsupported: data-dependent control flow"},
    "opcheck-fails": {"test": "test_schema", "why": "mutated input not declared"},
}
LEFT = re.compile(r"\{[A-Za-z_]\w*\}")


def test_every_registered_code_has_a_plausible_extra_here():
    assert set(EXTRAS) == set(CODES)


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_template_is_filled_when_the_extra_is_complete(code):
    f = Finding(code, input="x", output="out", extra=EXTRAS[code])
    for text in (findings.message(f), findings.fix(f)):
        assert text.strip() and not LEFT.search(text), text
        assert "{" not in text and "}" not in text


@pytest.mark.parametrize("code", sorted(CODES))
def test_a_missing_field_stays_visible_and_never_raises(code):
    f = Finding(code, input=None, extra={})
    wanted = {k for _, k, _, _ in __import__("string").Formatter().parse(CODES[code].message) if k}
    text = findings.message(f)
    for key in wanted - findings.OPTIONAL:
        assert "{" + key + "}" in text, (key, text)


def test_numbers_shapes_indices_and_conditions_read_as_words():
    def msg(code, **extra):
        return findings.message(Finding(code, input="x", extra=extra))

    assert msg("scaled-by", factor=1 / 64) == "the gradient for x is the truth times 1/64"
    assert msg("scaled-by", factor=2.5) == "the gradient for x is the truth times 2.5"
    assert msg("scaled-by", factor=3.0, meaning="the value of parameter a") \
        == "the gradient for x is the truth times 3, the value of parameter a"
    assert msg("wrong-shape", got=[4, 3], want=(3, 4), transposed=True) \
        == "the gradient for x has shape (4, 3), the input has shape (3, 4) (the input's shape transposed)"
    assert msg("wrong-shape", got=(5,), want=(), transposed=False) \
        == "the gradient for x has shape (5,), the input has shape ()"
    assert msg("wrong-gradient", max_abs_error=0.25, worst_index=(3, 7)) \
        == "the gradient for x is wrong (max abs error 2.5e-01 at [3, 7])"
    assert msg("wrong-at-points", count=3, total=64, condition={"input": "x", "op": "<", "value": 0}) \
        == "the gradient for x is wrong at 3 of 64 elements, exactly where x < 0"
    assert msg("wrong-at-points", count=3, total=64, condition={"index": "idx", "repeats": True}) \
        .endswith("elements, exactly the rows idx repeats")
    both = {"all": [{"input": "x", "op": ">=", "value": 1.5}, {"input": "x", "op": "<=", "value": 2}]}
    assert msg("wrong-at-points", count=3, total=64, condition=both).endswith("exactly where x ≥ 1.5 and x ≤ 2")
    assert msg("wrong-at-points", count=3, total=64) == "the gradient for x is wrong at 3 of 64 elements"
    unknown = msg("wrong-at-points", count=3, total=64, condition={"shape": "odd"})
    assert unknown.endswith("{condition_text}")
    assert msg("missing-broadcast-sum", dims=[0, 1]).endswith("dimensions (0, 1)")
    assert msg("low-precision-error", dtype="bfloat16", ratio=12.3456, k=4).startswith(
        "in bfloat16, the gradient for x is 12.3× as far")


def test_a_tensor_in_the_extra_is_read_as_its_numbers():
    torch = pytest.importorskip("torch")
    f = Finding("wrong-gradient", input="x", extra={"max_abs_error": torch.tensor(0.5, dtype=torch.float64),
                                                     "worst_index": torch.tensor([1, 2])})
    assert findings.message(f) == "the gradient for x is wrong (max abs error 5.0e-01 at [1, 2])"
    assert findings.place(f) == "[1, 2]"
    entry = payloads.finding(f)
    assert entry["max_abs_error"] == 0.5 and entry["worst_index"] == [1, 2]


def test_the_place_of_a_finding():
    def place(**extra):
        return findings.place(Finding("wrong-at-points", input="x", extra=extra))

    assert place(condition={"input": "x", "op": "<", "value": 0}, worst=[{"index": (1,)}]) == "where x < 0"
    assert place(worst=[{"index": (i, 0)} for i in range(9)]) == "[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [5, 0], …"
    assert place(worst_index=()) == "()"
    assert place(dims=[0]) == "dim 0"
    assert place() == ""


# ---- hand-built diagnoses -------------------------------------------------------------------------


def linear_diagnosis(ok: bool = False) -> Diagnosis:
    """A linear layer whose grad_weight is transposed (or, ok=True, a correct one)."""
    wrong = [] if ok else [Finding("transposed", input="weight", extra={"hint": "grad_output.T @ x"})]
    warn = [Finding("no-jvp", extra={"why": "MyLinear defines no jvp"})]
    return Diagnosis(
        target="my_ops.py:MyLinear", kind="function", truth="autograd through forward", ok=ok,
        inputs=[InputReport("x", (64, 256), "float64", True, True, 1.1e-16, 2.0e-15, (3, 7)),
                InputReport("weight", (256, 256), "float64", True, ok, 0.0 if ok else 3.5, 0.0 if ok else 1.9,
                            None if ok else (0, 1), None if ok else "transposed"),
                InputReport("bias", (256,), "float64", True, True, 0.0, 0.0, None),
                InputReport("idx", (64,), "int64", False, None)],
        capabilities=[Capability("first derivative", ok, "3 inputs by VJP on 4 directions", "the truth"),
                      Capability("double backward", None, "not run: the first derivative is wrong", ""),
                      Capability("forward-ad", False, "MyLinear defines no jvp", "the truth"),
                      Capability("torch.func.vmap", True, "", "eager"),
                      Capability("non-contiguous", True, "", "nothing: it only ran")],
        findings=wrong + warn, cost=Cost(12, 9, {"truth": 0.5, "products": 1.25}), elementwise=False,
        warnings=["UserWarning: TypedStorage is deprecated"])


def test_the_payload_has_every_key_of_the_spec_and_is_json():
    payload = payloads.diagnosis(linear_diagnosis())
    assert list(payload) == ["command", "target", "kind", "truth", "ok", "elementwise", "dtype", "reference",
                             "inputs", "capabilities", "findings", "cost", "warnings"]
    assert payload["inputs"][1] == {"name": "weight", "shape": [256, 256], "dtype": "float64",
                                    "differentiable": True, "ok": False, "max_abs_error": 3.5,
                                    "max_rel_error": 1.9, "worst_index": [0, 1], "pattern": "transposed"}
    assert payload["capabilities"][0] == {"name": "first derivative", "ok": False,
                                          "detail": "3 inputs by VJP on 4 directions", "compared_with": "the truth"}
    first = payload["findings"][0]
    assert first == {"code": "transposed", "severity": "error", "input": "weight", "output": None,
                     "message": "the gradient for weight is the true gradient transposed",
                     "fix": "return grad_output.T @ x", "place": "",
                     "hint": "grad_output.T @ x"}
    assert payload["cost"] == {"forward_calls": 12, "backward_calls": 9, "seconds": {"truth": 0.5, "products": 1.25}}
    json.dumps(payload, allow_nan=False)


def test_the_scalar_form_keeps_its_keys():
    d = linear_diagnosis()
    d.details.update(points=[{"inputs": {"x": 2.0}, "ok": True}], checked=1, unchecked=0, dot_test=(1.0, 2.0))
    payload = payloads.diagnosis(d)
    assert payload["points"] == [{"inputs": {"x": 2.0}, "ok": True}] and payload["checked"] == 1
    assert payload["unchecked"] == 0 and "dot_test" not in payload


def test_an_extra_never_hides_a_fixed_key_and_nan_is_a_string():
    f = Finding("wrong-gradient", input="x", extra={"message": "sneaky", "max_abs_error": float("nan"),
                                                     "worst_index": (0,)})
    entry = payloads.finding(f)
    assert entry["message"].startswith("the gradient for x is wrong (max abs error nan")
    assert entry["max_abs_error"] == "nan"


def test_exit_2_still_prints_one_object():
    from backpropcli.errors import ConfigError, InputError

    assert payloads.check_error(InputError("no such file: a.py")) == {
        "command": "check", "ok": False, "error": {"message": "no such file: a.py", "kind": "input"}}
    assert payloads.check_error(ConfigError("bad"))["error"]["kind"] == "config"
    assert payloads.check_error(ValueError("x"))["error"]["kind"] == "error"
    assert payloads.check_error("timed out", "timeout")["error"] == {"message": "timed out", "kind": "timeout"}


# ---- the terminal ---------------------------------------------------------------------------------


def _shown(renderable, width: int) -> list[str]:
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False, legacy_windows=False).print(renderable)
    return [line.rstrip() for line in buffer.getvalue().splitlines()]


def wide_diagnosis() -> Diagnosis:
    """The widest cells a real check gives: long names, long codes, a 4-d shape, a long condition."""
    d = linear_diagnosis()
    d.inputs.append(InputReport("attention_mask", (16, 128, 64), "bfloat16", True, False, 12.5, 3.0e7,
                                (15, 127, 63), "missing-broadcast-sum"))
    d.findings.append(Finding("wrong-at-points", input="attention_mask", output="attention_scores",
                              extra={"count": 1234567, "total": 16777216, "hint": "accumulate with index_add_",
                                     "condition": {"index": "token_positions", "repeats": True}}))
    d.capabilities += [  # the probes' own words (doctor/probes/*.py)
        Capability("torch.func.hessian", None, "no setup_context", "eager autograd"),
        Capability("batched-grad", True, "each batch row matches the truth",
                   "the truth's Jᵀv for each of two random grad_outputs"),
        Capability("non-differentiable-inputs", False, "a gradient returned for idx, an int64 tensor",
                   "backward's returned tuple, position by position"),
        Capability("double-backward", True, "H·u matches the truth's on random directions",
                   "central differences of the custom first derivative along two random directions")]
    return d


@pytest.mark.parametrize("make, prose", [(linear_diagnosis, 1), (wide_diagnosis, 2),
                                         (lambda: linear_diagnosis(ok=True), 1)])
def test_80_columns_keep_the_120_column_layout(make, prose):
    """As tests/test_columns.py: no line over 80, the same table headers, and only wrapped prose
    longer (the wide case wraps more of it: the probes' long 'compared with' sentences)."""
    from test_columns import WRAPPED_PROSE, _headers

    from backpropcli.present.terminal import check

    at80, at120 = _shown(check.view(make()), 80), _shown(check.view(make()), 120)
    assert max(map(len, at80)) <= 80, "\n".join(at80)
    assert _headers(at80) == _headers(at120) != [], "\n".join(at80)
    assert len(at120) <= len(at80) <= len(at120) + prose * WRAPPED_PROSE, "\n".join(at80)


def test_what_the_terminal_shows():
    from backpropcli.present.terminal import check

    text = " ".join(" ".join(_shown(check.view(wide_diagnosis()), 100)).split())  # spaces normalised
    for shown in ("first derivative ✗ 3 inputs by VJP on 4 directions vs the truth", "non-contiguous ✓ ran only",
                  "torch.func.vmap ✓ vs eager",
                  "✗ error    transposed · input weight", "the gradient for weight is the true gradient transposed",
                  "fix: return grad_output.T @ x",
                  "· the rows token_positions repeats",
                  "weight 256×256 float64 3.5e+00 1.9e+00 [0, 1] ✗ transposed",
                  "– idx: not differentiable", "cost: 12 forward and 9 backward calls",
                  "python warning  UserWarning: TypedStorage is deprecated",
                  "FAILED: the gradients for weight, attention_mask are wrong (2 errors, 1 warning)"):
        assert " ".join(shown.split()) in text, (shown, text)


def test_the_worst_elements_a_finding_lists():
    from backpropcli.present.terminal import check

    worst = [{"index": (i, 2), "custom": -1.25 * i, "truth": 0.0, "inputs": {"x": -0.5 * i}} for i in range(7)]
    f = Finding("wrong-at-points", input="x", extra={"count": 7, "total": 35, "worst": worst, "hint": "h",
                                                     "condition": {"input": "x", "op": "<", "value": 0}})
    shown = _shown(check.worst_table(f), 80)
    assert shown[1] == "The worst elements of x (wrong-at-points)"
    assert shown[2].split() == ["element", "custom", "truth", "x"]
    assert shown[5].split() == ["[1,", "2]", "-1.25", "0", "-0.5"]
    assert shown[-1] == "5 of the 7 listed; --all shows every one"
    assert len(_shown(check.worst_table(f, show_all=True), 80)) == 3 + 1 + 7
    assert check.worst_table(Finding("sign-flipped", input="x")) is None
    assert "· where x < 0" in _finding_text(f)


def test_a_row_not_run_says_why_and_not_what_it_would_compare_with():
    from backpropcli.present.terminal import check

    assert check._capability_cell(Capability("forward-ad", None, "not supported: no jvp", "J·u")).plain \
        == "not supported: no jvp"
    assert check._capability_cell(Capability("forward-ad", False, "J·u differs", "the truth's J·u")).plain \
        == "J·u differs\nvs the truth's J·u"
    assert check._capability_cell(Capability("vmap", True, "", "")).plain == "ran only"


def _finding_text(f) -> str:
    from backpropcli.present.terminal import check

    return check._finding_cell(f).plain


def test_the_cost_line_and_an_empty_capability_table():
    from backpropcli.present.terminal import check

    cost = Cost(87, 4, {"forward": 0.009, "truth": 2.8, "compare": 0.155, "probes": 0.0001})
    # the seconds depend on the machine and its load: --json has them, the terminal only the calls
    assert check.cost_line(cost).plain == "cost: 87 forward and 4 backward calls"
    assert check.cost_line(Cost(3, 1)).plain == "cost: 3 forward and 1 backward calls"
    d = linear_diagnosis()
    d.capabilities = []
    assert "capabilities: none checked" in _shown(check.view(d), 80)


def test_the_verdict_and_the_line_on_stderr():
    from backpropcli.present.terminal import check

    ok = linear_diagnosis(ok=True)
    assert check.verdict(ok).plain == "ok: every gradient is right (0 errors, 1 warning)"
    assert check.failure_line(ok) is None
    wrong = linear_diagnosis()
    assert check.failure_line(wrong) == ("check failed for my_ops.py:MyLinear: transposed: the gradient for weight "
                                         "is the true gradient transposed")
    nothing = Diagnosis("f.py:F", "callable", "finite differences", False, [], [],
                        [Finding("nothing-checked", extra={"why": "the truth is not finite at any element"})], Cost())
    assert check.verdict(nothing).plain == ("not ok: nothing could be checked: the truth is not finite at any "
                                            "element (0 errors, 1 warning)")
    assert check.failure_line(nothing).endswith("nothing-checked: nothing could be checked: the truth is not "
                                                "finite at any element")
    assert _shown(check.doctor(wrong), 80) == _shown(check.view(wrong), 80)  # the CLI's entry dispatches on the type


# ---- the figure ----------------------------------------------------------------------------------


def test_blocks_keep_every_wrong_element_and_the_worst_difference():
    np = pytest.importorskip("numpy")
    from backpropcli.present.figures import heatmaps

    rng = np.random.default_rng(0)
    truth = rng.standard_normal((300, 257))
    custom = truth.copy()
    custom[17, 250] += 0.5
    custom[299, 256] = np.nan  # the last, padded block
    custom[100, 100] += 1e-3
    wrong = np.abs(custom - truth) > 1e-9
    wrong[np.isnan(custom)] = True
    b = heatmaps.blocks(truth, custom, wrong)
    assert max(b.truth.shape) <= heatmaps.MAX_CELLS and b.size == (3, 3)
    assert b.wrong.sum() == 3 and b.wrong[17 // 3, 250 // 3] and b.wrong[299 // 3, 256 // 3]
    assert b.custom[17 // 3, 250 // 3] - b.truth[17 // 3, 250 // 3] == pytest.approx(0.5)  # the block's worst
    assert np.isnan(b.custom[299 // 3, 256 // 3])
    small = heatmaps.blocks(truth[:5, :5], custom[:5, :5], wrong[:5, :5])
    assert small.size == (1, 1) and (small.truth == truth[:5, :5]).all()


def test_any_rank_becomes_a_matrix_and_says_how():
    np = pytest.importorskip("numpy")
    from backpropcli.present.figures.heatmaps import matrix

    assert matrix(np.zeros(()))[0].shape == (1, 1)
    m, how = matrix(np.zeros(7))
    assert m.shape == (1, 7) and how == "a vector of 7: one row"
    assert matrix(np.zeros((3, 4)))[1] == ""
    m, how = matrix(np.arange(24.0).reshape(2, 3, 4))
    assert m.shape == (6, 4) and m[4, 1] == 17.0  # row 4 is [1, 1, :]
    assert how.startswith("shape (2, 3, 4) drawn as 6×4") and ".reshape(-1, 4)" in how


def test_the_check_figure_of_the_worst_pair(tmp_path):
    torch = pytest.importorskip("torch")
    from backpropcli.present.figures import check as figure
    from backpropcli.present.figures.common import png_facts

    d = linear_diagnosis()
    assert figure.check_figure(d, tmp_path / "none.png") is None  # nothing in details: nothing drawn
    truth = torch.randn(6, 6, dtype=torch.float64)
    d.details["worst"] = {"input": "weight", "output": None, "truth": truth, "custom": truth.T,
                          "tol": torch.full((6, 6), 1e-12)}
    assert figure.title(d, d.details["worst"]).startswith("my_ops.py:MyLinear: the gradient for weight, FAILED: "
                                                          "transposed")
    assert figure.wrong_mask(d.details["worst"]).sum() == 30  # the diagonal is right
    path = figure.check_figure(d, tmp_path / "check.png")
    width, smallest = png_facts(path.read_bytes())
    assert 1200 < width < 2600 and smallest is not None and smallest >= 18  # 9 pt at 150 dpi
    d.details["worst"]["custom"] = torch.zeros(3, 12)  # a gradient of the wrong shape: no picture
    assert figure.check_figure(d, tmp_path / "shape.png") is None


@pytest.mark.parametrize("cond, words", [
    ({"input": "x", "op": ">", "value": 1, "abs": True}, "exactly where |x| > 1"),
    ({"input": "x", "op": "<", "value": 0.5, "param": "a"}, "exactly where x < a (= 0.5)"),
    ({"output": 0, "op": "<=", "value": 0}, "exactly where output 0 ≤ 0"),
    ({"output": "values", "op": ">", "value": 0}, "exactly where values > 0"),
    ({"input": "mask", "op": "==", "value": True}, "exactly where mask is True"),
    ({"input": "mask", "op": "!=", "value": True}, "exactly where mask is False"),
    ({"index": "idx", "dim": 0, "repeats": True}, "exactly the rows idx repeats"),
    ({"index": "idx", "dim": 1, "repeats": True}, "exactly the entries along dim 1 idx repeats"),
    ({"index": "idx", "dim": 0, "hit": True}, "exactly the rows idx names"),
    ({"index": "idx", "dim": 0, "hit": False}, "exactly the rows idx never names"),
    ({"index": "idx", "dim": 1, "repeats": True, "along": True},
     "exactly where idx names an entry along dim 1 more than once"),
])
def test_every_condition_classify_names_reads_as_words(cond, words):
    assert findings.condition(cond) == words


def test_a_long_vector_and_a_4d_tensor_are_drawn(tmp_path):
    np = pytest.importorskip("numpy")
    from backpropcli.present.figures import heatmaps

    v = np.linspace(-1, 1, 1000)
    wrong = np.zeros(1000, dtype=bool)
    wrong[999] = True
    b = heatmaps.blocks(*[heatmaps.matrix(a)[0] for a in (v, v + wrong, wrong)])
    assert b.size == (1, 8) and b.wrong.shape == (1, 125) and b.wrong[0, -1] and b.wrong.sum() == 1
    assert heatmaps.heatmaps(v, v + wrong, wrong, tmp_path / "v.png", title="a vector").stat().st_size > 0
    t = np.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    path = heatmaps.heatmaps(t, -t, None, tmp_path / "t.png", title="4-d", axes=("a", "b"))
    assert path.exists()
    with pytest.raises(ValueError, match="one shape"):
        heatmaps.heatmaps(t, t[0], None, tmp_path / "x.png", title="")
