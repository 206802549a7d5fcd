"""A check's findings as plain text for a log: no colour codes, no box characters, lines a CI
log and a JUnit XML file keep as they are. Used by GradientCheckError's message (the short
block) and by the pytest plugin's report section (the tables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backpropcli.present.fmt import error
from backpropcli.present.html import mark

WIDTH = 100  # a wrapped column's width: CI logs are wider than a terminal, but not unbounded


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, a rule of dashes under the header."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]])


def _index(index) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def place(finding: dict, inputs: Sequence[dict]) -> str:
    """Where a finding is: its own place (a condition, indices) or else the worst element of its
    input (from the per-input table), and the output it concerns; "" for the whole Function."""
    parts = [finding["place"]] if finding.get("place") else []  # the finding's own (a condition, indices)
    row = next((i for i in inputs if i.get("name") == finding.get("input")), None)
    if not parts and row is not None and row.get("worst_index") is not None and row.get("max_abs_error") \
            and finding.get("severity") == "error":  # else the element furthest from the truth, when one is
        parts.append(f"worst element {_index(row['worst_index'])}")
    if finding.get("output"):
        parts.append(f"output {finding['output']}")
    return ", ".join(parts)


def findings_block(title: str, findings: Sequence[dict], inputs: Sequence[dict] = ()) -> str:
    """The message of a failed check: a title line, then per finding its code and input (and where),
    what is wrong, and the fix, indented::

        MyLinear: 1 gradient error
          transposed: input weight (worst element [0, 1])
            the gradient for weight is the true gradient transposed
            fix: transpose it back: use x.T @ grad_output instead
    """
    lines = [title]
    for f in findings:
        head = f"  {f['code']}"
        if f.get("input"):
            head += f": input {f['input']}"
        where = place(f, inputs)
        if where:
            head += f" ({where})"
        lines.append(head)
        if f.get("message"):
            lines.append(f"    {f['message']}")
        if f.get("fix"):
            lines.append(f"    fix: {f['fix']}")
    return "\n".join(lines)


def report(payload: dict) -> str:
    """The pytest report section of a check: the capabilities, the findings and the inputs as
    three plain tables (the --json's fields, the same words as the terminal)."""
    parts = [f"check of {payload.get('target', '')}: {'ok' if payload.get('ok') else 'FAILED'} "
             f"(truth: {payload.get('truth', '')}, {payload.get('dtype', '')})"]
    caps = payload.get("capabilities", [])
    if caps:
        parts.append(text_table(["capability", "ok", "compared with", "detail"],
                                [[c["name"], mark(c.get("ok")), c.get("compared_with", ""), c.get("detail", "")]
                                 for c in caps]))
    found = payload.get("findings", [])
    inputs = payload.get("inputs", [])
    parts.append(text_table(["code", "severity", "input", "where", "fix"],
                            [[f["code"], f.get("severity", ""), f.get("input") or "", place(f, inputs),
                              f.get("fix", "")] for f in found]) if found else "findings: none")
    if inputs:
        parts.append(text_table(["input", "shape", "dtype", "max abs error", "ok", "pattern"],
                                [[i["name"], "x".join(map(str, i.get("shape", ()))) or "scalar", i.get("dtype", ""),
                                  error(i.get("max_abs_error")), mark(i.get("ok")), i.get("pattern") or ""]
                                 for i in inputs]))
    return "\n\n".join(parts) + "\n"
