"""Results as HTML tables, for a notebook's rich display (`_repr_html_` of the Python API's results).

The same columns as the terminal's tables (present/tables.py names them), every number through
present/fmt, every text escaped. No stylesheet and no script: a notebook (Jupyter, VS Code,
GitHub's viewer) styles a plain <table> itself; numbers are right-aligned inline.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from backpropcli.present import tables
from backpropcli.present.fmt import error, full, general, num, short

MARKS = {True: "✓", False: "✗", None: "–"}
MAX_ROWS = 50  # rows of a table shown in a notebook; the rest is counted under it
NUMERIC = "text-align:right;font-variant-numeric:tabular-nums"


def mark(ok: bool | None) -> str:
    return MARKS[ok]


def _cell(tag: str, value: Any, numeric: bool) -> str:
    style = f' style="{NUMERIC}"' if numeric else ' style="text-align:left"'
    return f"<{tag}{style}>{html.escape(str(value))}</{tag}>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None,
          numeric: Iterable[int] = (), note: str | None = None) -> str:
    """One <table>: ``numeric`` holds the indices of the right-aligned columns (numbers); cells are
    text already (formatted by fmt), escaped here. Past MAX_ROWS rows a line says how many more."""
    right = set(numeric)
    rows = list(rows)
    head = "".join(_cell("th", h, i in right) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(_cell("td", c, i in right) for i, c in enumerate(row)) + "</tr>"
                   for row in rows[:MAX_ROWS])
    title = f"<caption style=\"text-align:left\">{html.escape(caption)}</caption>" if caption else ""
    out = f'<table class="backprop">{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    if len(rows) > MAX_ROWS:
        out += paragraph(f"{MAX_ROWS} of {len(rows)} rows shown; to_dict() has them all")
    if note:
        out += paragraph(note)
    return out


def paragraph(text: str, bold: str | None = None) -> str:
    lead = f"<b>{html.escape(bold)}</b> " if bold else ""
    return f"<p>{lead}{html.escape(text)}</p>"


def section(*parts: str) -> str:
    return '<div class="backprop-result">' + "".join(parts) + "</div>"


# ---- grad and hessian ----------------------------------------------------------------------------


def _derivative_rows(check) -> Iterator[list[str]]:
    for point in check.points:
        for j, (key, comp) in enumerate(check.entries(point)):
            cells = [general(point.inputs[v]) if j == 0 else "" for v in check.variables]
            cells.append(check.label(key))
            cells.append(full(comp.analytic))
            for method in ("custom", "autograd", "finite_difference"):
                value = getattr(comp, method)
                cells.append("" if value is None else full(value, check.dtype))
            cells.append(error(comp.rel_error.get(check.judged)))
            cells.append(mark(None if not point.checked else bool(comp.ok and point.ok)))
            yield cells


def derivatives(check, findings: Sequence[dict] = ()) -> str:
    """A grad or hessian check: a row per point and derivative (the truth, every method, the judged
    method's relative error, ✓), then the verdict and the worded ``findings`` (what could not be
    judged)."""
    which = "the gradient" if check.order == 1 else "the second derivatives"
    params = ", ".join(f"{k} = {num(v)}" for k, v in check.params.items())
    caption = f"{check.function}: {which} ({check.dtype}{', ' + params if params else ''})"
    headers = [*check.variables, "derivative", "analytic", "custom", "autograd", "finite diff",
               f"rel error ({tables.METHOD_LABELS[check.judged]})", "ok"]
    rows = list(_derivative_rows(check))
    if not check.has_custom:  # an expression: no hand-written backward, no custom column
        headers.pop(len(check.variables) + 2)
        for row in rows:
            row.pop(len(check.variables) + 2)
    numeric = [i for i, h in enumerate(headers) if h not in ("derivative", "ok")]
    legend = "; ".join(f"{name}: {meaning}" for name, meaning in tables.method_meanings(check))
    parts = [table(headers, rows, caption, numeric, note=legend)]
    if check.has_custom and check.gradcheck is not None:
        parts.append(paragraph(f"{'passed' if check.gradcheck else 'FAILED'} (float64, "
                               f"{check.gradcheck_points} point(s))", bold=f"{check.order.gradcheck_name}:"))
    parts.append(paragraph(verdict_text(check), bold="verdict:"))
    if findings:
        parts.append(worded_findings(findings))
    return section(*parts)


def verdict_text(check) -> str:
    n, judged = len(check.points), check.checked
    good = sum(bool(p.ok) for p in check.points)
    if not judged:
        return "nothing checked: no point has a truth to judge against"
    which = "checked " if judged < n else ""
    if good == judged:
        return f"all {judged} {which}point(s) ok"
    return f"{judged - good} of {judged} {which}point(s) FAILED"


def worded_findings(findings: Sequence[dict]) -> str:
    """Findings already worded (code, severity, input, message, fix) as a table."""
    if not findings:
        return paragraph("none", bold="findings:")
    rows = [[f.get("code", ""), f.get("severity", ""), f.get("input") or "", f.get("message", ""),
             f.get("fix", "")] for f in findings]
    return table(["code", "severity", "input", "what is wrong", "fix"], rows, "findings")


# ---- a trace: the chain rule node by node --------------------------------------------------------


def _value(value, dtype: str) -> str:
    return short(value, 10, 4, dtype)


def trace(traced, symbol: str = "f") -> str:
    """--trace as two tables: the nodes (value, gradient) and the edges (local, upstream, downstream)."""
    dtype = traced.dtype
    nodes = [[r["name"], tables.shown_expression(r), _value(r["value"], dtype), _value(r["grad"], dtype)]
             for r in tables.node_rows(traced)]
    edges = [[tables.edge_name(r), _value(r["local"], dtype), r["rule"], _value(r["upstream"], dtype),
              _value(r["downstream"], dtype)] for r in tables.edge_rows(traced)]
    return section(table(tables.node_headers(symbol), nodes, tables.trace_title(traced), numeric=(2, 3)),
                   table(tables.EDGE_HEADERS, edges, "the chain rule along each edge parent → child",
                         numeric=(1, 3, 4)))


# ---- regress ---------------------------------------------------------------------------------------


def regression(result) -> str:
    """The fit against the least-squares optimum, and the verdict."""
    cfg, opt = result.config, result.optimum

    def n(value):  # the run's own precision
        return full(value, cfg.dtype)

    rows = [["W", n(result.W0), n(result.W), num(opt.W)], ["b", n(result.b0), n(result.b), num(opt.b)],
            ["loss (MSE)", n(result.initial_loss), n(result.final_loss),
             "0 (exact fit)" if opt.exact_fit else num(opt.loss)]]
    facts = [["steps", f"{result.iters_run} of {cfg.iters} at lr {num(cfg.lr)}"
              + ("" if cfg.zero_grad else ", grads NOT zeroed (they accumulate)")],
             ["|(W,b) - optimum|", num(result.distance)],
             ["largest stable lr", f"2/lambda_max = {num(result.curvature.lr_max, 6)}"],
             ["verdict", result.verdict]]
    return section(table(["quantity", "initial", "final", "least squares"], rows,
                         "Linear regression by gradient descent", numeric=(1, 2, 3)),
                   table(["", ""], facts))


# ---- check: a Function's diagnosis (from its payload) ------------------------------------------------


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def _index(index) -> str:
    return "" if index is None else "[" + ", ".join(str(i) for i in index) + "]"


def diagnosis(payload: dict) -> str:
    """`check` as three tables: the capabilities (what each ✓ was compared with), the findings
    (what is wrong, where, the fix) and one row per input (its largest errors and pattern)."""
    verdict = "ok" if payload.get("ok") else "FAILED"
    head = paragraph(f"{payload.get('target', '')}: {verdict} (truth: {payload.get('truth', '')}, "
                     f"{payload.get('dtype', '')})", bold="check")
    caps = [[c["name"], mark(c.get("ok")), c.get("compared_with", ""), c.get("detail", "")]
            for c in payload.get("capabilities", [])]
    inputs = [[i["name"], _shape(i.get("shape", ())), i.get("dtype", ""),
               error(i.get("max_abs_error")), error(i.get("max_rel_error")), _index(i.get("worst_index")),
               i.get("pattern") or "", mark(i.get("ok"))] for i in payload.get("inputs", [])]
    parts = [head]
    if caps:
        parts.append(table(["capability", "ok", "compared with", "detail"], caps, "capabilities"))
    parts.append(worded_findings(payload.get("findings", [])))
    if inputs:
        parts.append(table(["input", "shape", "dtype", "max abs error", "max rel error", "worst element",
                            "pattern", "ok"], inputs, "inputs", numeric=(3, 4)))
    return section(*parts)


def manual(payload: dict) -> str:
    """`manual`: a row per step (its status end to end, right alone?, its error, whom it inherits
    from), then every wrong step's findings."""
    first = payload.get("first_wrong")
    head = paragraph(f"{payload.get('file') or 'backward'}: {'ok' if payload.get('ok') else 'FAILED'}"
                     + (f" (the first wrong step: {first})" if first else ""), bold="manual")
    rows = [[s["name"], "" if s.get("shape") is None else _shape(s["shape"]), s.get("status", ""),
             mark(s.get("local_ok")), error(s.get("max_abs_error")), s.get("inherits_from") or "",
             ", ".join(f["code"] for f in s.get("findings", []))] for s in payload.get("steps", [])]
    steps = table(["step", "shape", "end to end", "alone", "max abs error", "inherits from", "findings"], rows,
                  "each gradient the backward wrote", numeric=(4,))
    found = [{**f, "input": f.get("input") or s["name"]} for s in payload.get("steps", [])
             for f in s.get("findings", [])]
    return section(head, steps, worded_findings(found))
