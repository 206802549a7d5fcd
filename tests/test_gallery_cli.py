"""`backprop check FILE.py:Name --inputs FILE.py:make_inputs --json` on every gallery entry: exactly the
expected codes (errors and warnings), exit 1 when one is an error and 0 otherwise, the main finding on
the expected input with its details (the factor of scaled-by, the condition of wrong-at-points).

Each entry is what its EXPECTED says without the doctor (tests/test_gallery.py); this file is the
doctor's exam on them: a correct Function FAILED or a bug not named is the doctor's bug.

The checks run in this process through the Typer app (torch loads once), as the docs' outputs
are made; the exit code and the --json object are the command's own.
"""

from __future__ import annotations

import json

import pytest
from gallery_loader import CAPABILITY_WARNINGS, Entry, entries
from typer.testing import CliRunner

ENTRIES = entries()


def check(entry: Entry, *extra: str) -> tuple[int, dict]:
    from backpropcli.cli import app

    done = CliRunner().invoke(app, ["check", f"{entry.path}:{entry.name}", "--inputs",
                                    f"{entry.path}:{entry.inputs_name}", "--json", "--timeout", "600", *extra],
                              env={"COLUMNS": "100"})
    try:
        payload = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{entry}: exit {done.exit_code}, stdout is not one JSON object:\n"
                             f"{done.stdout[-2000:]}\n{done.output[-2000:]}") from None
    return done.exit_code, payload


def summary(payload: dict) -> str:
    return json.dumps([{k: f.get(k) for k in ("code", "severity", "input", "message")}
                       for f in payload.get("findings", [])] or payload.get("error"), indent=1)


@pytest.mark.parametrize("entry", ENTRIES, ids=str)
def test_check_names_exactly_the_expected_codes(entry):
    rc, payload = check(entry)
    assert "error" not in payload, f"{entry}: exit {rc}: {payload.get('error')}"
    codes = {f["code"] for f in payload["findings"] if f["severity"] != "info"}
    optional = set(entry.spec.get("may_add", ()))  # a real finding that torch's threads may not show
    assert entry.codes <= codes <= entry.codes | optional, f"{entry}: {summary(payload)}"
    assert rc == (1 if entry.errors else 0), f"{entry}: exit {rc}"
    assert payload["ok"] is (not entry.errors)
    spec = entry.spec
    if "input" not in spec:
        return
    main = next(c for c in spec["codes"] if c not in CAPABILITY_WARNINGS)
    named = [f for f in payload["findings"] if f["code"] == main]
    assert any(f["input"] == spec["input"] for f in named), f"{entry}: {summary(payload)}"
    finding = next(f for f in named if f["input"] == spec["input"])
    if "factor" in spec:
        assert finding["factor"] == pytest.approx(spec["factor"], rel=1e-6)
    if "condition" in spec:
        assert finding["condition"] == spec["condition"]


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.correct and e.is_function], ids=str)
def test_correct_entries_pass_against_their_reference_too(entry):
    """--reference FILE.py:fn: the truth from the plain-torch reference instead of forward's own ops."""
    rc, payload = check(entry, "--reference", f"{entry.path}:{entry.spec.get('reference', 'reference')}")
    codes = {f["code"] for f in payload.get("findings", []) if f["severity"] != "info"}
    assert (rc, codes) == (0, entry.codes), f"{entry}: {summary(payload)}"


def test_every_expected_code_is_registered():
    from backpropcli.doctor.codes import CODES

    for entry in ENTRIES:
        assert entry.codes <= set(CODES), entry
