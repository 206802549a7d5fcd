"""`backprop check`: what the Function supports, its findings, the points and the verdict."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from backpropcli.present.fmt import error as err
from backpropcli.present.fmt import num
from backpropcli.present.terminal.fit import Fit

MAX_POINT_ROWS = 20  # rows shown before an elision (every wrong one is shown too)

MARKS = {True: "✓", False: "✗", None: "–"}  # capability and point verdicts (one place to swap for ASCII)
MARK_STYLE = {True: "green", False: "bold red", None: "dim"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}
KIND_LABELS = {"function": "autograd.Function with setup_context",
               "function-ctx": "autograd.Function, old style forward(ctx, ...)",
               "callable": "plain callable (autograd through it is what is checked)"}
TRUTH_LABELS = {"reference": "the reference, 50 digits",
                "autograd": "autograd through forward's own ops (where the finite difference agrees)",
                "finite_difference": "Richardson-extrapolated central differences in float64"}


def _mark(ok: bool | None) -> Text:
    return Text(MARKS[ok], style=MARK_STYLE[ok])


def capabilities(diagnosis) -> Fit:
    table = Table(title=f"What {diagnosis.target} supports", title_justify="left")
    table.add_column("capability", no_wrap=True)
    table.add_column("", justify="center", no_wrap=True)
    table.add_column("why")
    for c in diagnosis.capabilities:
        table.add_row(c.name, _mark(c.ok), c.detail)
    return Fit(table)


def findings(diagnosis) -> Fit | Text:
    if not diagnosis.findings:
        return Text("findings: none", style="green")
    table = Table(title="Findings", title_justify="left")
    table.add_column("code", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("message")
    for f in diagnosis.findings:
        table.add_row(f.code, Text(f.severity, style=SEVERITY_STYLE.get(f.severity)), f.message)
    return Fit(table)


def _shown_points(points, show_all: bool) -> list[int | None]:
    """Indices of the rows to show (None: an elision): every point with --all; else the first ones
    and every wrong one after them, so a failure is never hidden by the cut."""
    if show_all or len(points) <= MAX_POINT_ROWS:
        return list(range(len(points)))
    wrong = [i for i, p in enumerate(points) if not p.ok and i >= MAX_POINT_ROWS][:MAX_POINT_ROWS]
    rows: list[int | None] = list(range(MAX_POINT_ROWS))
    for i in wrong:
        if rows[-1] is not None and i != rows[-1] + 1:
            rows.append(None)
        rows.append(i)
    if rows[-1] != len(points) - 1:
        rows.append(None)
    return rows


POINT_DIGITS = 8  # a table of many points: the errors beside each value say the rest


def doctor_points(diagnosis, show_all: bool = False) -> Group:
    from rich import box

    two = len(diagnosis.variables) > 1
    truth = "reference" if diagnosis.truth == "reference" else "truth"
    table = Table(title=f"The gradient at each point ({diagnosis.dtype}), abs errors against the {truth}",
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False)
    for name in [*diagnosis.variables, *(["∂f/∂"] if two else []), truth, "custom", "abs err", "autograd",
                 "abs err", "finite diff", "abs err", "ok"]:
        table.add_column(name, justify="right" if name not in ("∂f/∂", "ok") else "center", no_wrap=True)
    rows = _shown_points(diagnosis.points, show_all)
    for i in rows:
        if i is None:
            table.add_row(*["…" for _ in table.columns], style="dim")
            continue
        point = diagnosis.points[i]
        for j, (v, g) in enumerate(point.gradients.items()):
            where = [num(point.inputs[w], 6) if j == 0 else "" for w in diagnosis.variables]
            cells = [num(g.truth, POINT_DIGITS)]
            for method in ("custom", "autograd", "finite_difference"):
                cells += [num(getattr(g, method), POINT_DIGITS), err(g.abs_error.get(method))]
            style = None if g.ok is not False else "red"
            table.add_row(*where, *([v] if two else []), *cells, _mark(g.ok), style=style)
    parts = [Fit(table, label_columns=len(diagnosis.variables) + two, named=True)]
    shown = sum(i is not None for i in rows)
    if shown < len(diagnosis.points):
        parts.append(Text(f"{shown} of {len(diagnosis.points)} points shown (the first {MAX_POINT_ROWS} and "
                          "every wrong one); --all shows every row", style="dim"))
    label = TRUTH_LABELS[diagnosis.truth]
    if diagnosis.truth == "reference" and diagnosis.reference:
        label = f"{diagnosis.reference} at 50 digits"
    parts.append(Text(f"{truth}: {label} · custom: its backward · autograd: through "
                      "forward's own ops · finite diff: Richardson-extrapolated central differences", style="dim"))
    return Group(*parts)


def doctor_summary(diagnosis) -> Fit:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    params = ", ".join(f"{k} = {num(v)}" for k, v in diagnosis.params.items())
    table.add_row("target", f"{diagnosis.target}  ({KIND_LABELS[diagnosis.kind]})")
    unchecked = getattr(diagnosis, "unchecked", 0)
    table.add_row("points", f"{len(diagnosis.points)} in {diagnosis.dtype}" + (f"; params {params}" if params else "")
                  + (f"; {unchecked} not checked (the truth is not finite there)" if unchecked else ""))
    for text in diagnosis.warnings:
        table.add_row("python warning", Text(text, style="yellow"))
    errors = sum(f.severity == "error" for f in diagnosis.findings)
    warnings = len(diagnosis.findings) - errors
    counts = f"{errors} error(s), {warnings} warning(s)"
    nothing = next((f for f in diagnosis.findings if f.code == "nothing-checked"), None)
    if nothing is not None:
        verdict = Text(nothing.message.split(", so nothing")[0] + f" ({counts})", style="bold yellow")
    elif diagnosis.ok:
        verdict = Text(f"ok: the first derivative is right ({counts})", style="bold green")
    else:
        verdict = Text(f"FAILED: the first derivative is wrong ({counts})", style="bold red")
    table.add_row("verdict", verdict)
    return Fit(table)


def doctor(diagnosis, show_all: bool = False) -> Group:
    """`backprop check`: what the Function supports, what is wrong with it, the points, the verdict."""
    return Group(capabilities(diagnosis), findings(diagnosis), doctor_points(diagnosis, show_all),
                 doctor_summary(diagnosis))
