"""`backprop check FILE.py:Name --inputs FILE.py:make_inputs --json` on every gallery entry: exactly the
expected codes (errors and warnings), exit 1 when one is an error and 0 otherwise, the main finding on
the expected input with its details (the factor of scaled-by, the condition of wrong-at-points).

Each entry is what its EXPECTED says without the doctor (tests/test_gallery.py); this file is the
doctor's exam on them: a correct Function FAILED or a bug not named is the doctor's bug.

Not collected by a plain `pytest` (its name lacks the test_ prefix) until the doctor passes it: run it
by name, `pytest tests/gallery_cli_exam.py`; once it passes on main, `git mv` it to
tests/test_gallery_cli.py. Each check takes seconds to a minute: about 20 minutes for all on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from gallery_loader import CAPABILITY_WARNINGS, Entry, entries

ENTRIES = entries()


def check(entry: Entry, *extra: str) -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "backpropcli", "check", f"{entry.path}:{entry.name}",
         "--inputs", f"{entry.path}:{entry.inputs_name}", "--json", "--timeout", "600", *extra],
        capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "100"})
    try:
        payload = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{entry}: exit {done.returncode}, stdout is not one JSON object:\n"
                             f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}") from None
    return done.returncode, payload


def summary(payload: dict) -> str:
    return json.dumps([{k: f.get(k) for k in ("code", "severity", "input", "message")}
                       for f in payload.get("findings", [])] or payload.get("error"), indent=1)


@pytest.mark.parametrize("entry", ENTRIES, ids=str)
def test_check_names_exactly_the_expected_codes(entry):
    rc, payload = check(entry)
    assert "error" not in payload, f"{entry}: exit {rc}: {payload.get('error')}"
    codes = {f["code"] for f in payload["findings"] if f["severity"] != "info"}
    assert codes == entry.codes, f"{entry}: {summary(payload)}"
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
