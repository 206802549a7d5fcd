"""`backprop grad` and `hessian`: the derivatives at one point by every method, or one table with a
row per point for several; the legend, the summary and why a check failed. Designed for 80 columns."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from backpropcli.present import tables, truths
from backpropcli.present.fmt import error as err
from backpropcli.present.fmt import fixed, full, general, num
from backpropcli.present.terminal.fit import Fit

MAX_POINT_ROWS = 20  # points shown before an elision (every wrong one is shown too)
MAX_UNCHECKED_LINES = 5  # lines saying why a point is not checked, under the table of several
MARKS = {True: "✓", False: "✗"}
MARK_STYLE = {True: "green", False: "bold red"}


def _mark(ok: bool) -> Text:
    return Text(MARKS[ok], style=MARK_STYLE[ok])


def _data_table(title=None) -> Table:
    """Numbers without boxes, a rule under the header (as check's and the trace's tables)."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                 collapse_padding=True, show_edge=False)


def legend(check, derivative_label: str | None) -> str:
    return " · ".join(f"{name}: {meaning}" for name, meaning in tables.method_meanings(check, derivative_label))


# ---- a typed expression: its symbolic derivatives and where its graph loses digits ----------------


def derivative_label(key: str, variables: list[str]) -> str:
    """"df/dx" -> f′ (one variable) or ∂f/∂x; "d2f/dx2" -> f″ or ∂²f/∂x²; "d2f/dxdy" -> ∂²f/∂x∂y."""
    if len(variables) == 1:
        return "f′" if key.startswith("df/") else "f″"
    if key.startswith("df/d"):
        return f"∂f/∂{key[4:]}"
    rest = key[5:]
    return f"∂²f/∂{rest[0]}²" if rest.endswith("2") else f"∂²f/∂{rest[0]}∂{rest[-1]}"


def expression_header(check) -> Table:
    """f and its symbolic derivatives, as sympy gives them from the parsed tree."""
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    args = f"({', '.join(check.variables)})"
    table.add_row(f"f{args}", check.extra["expression"])
    for key, text in check.extra.get("derivatives", {}).items():
        table.add_row(derivative_label(key, check.variables) + (args if len(check.variables) == 1 else ""), text)
    return table


def _lost_style(lost: float) -> str:
    return "green" if lost < 2 else ("yellow" if lost <= 6 else "bold red")


def _lost(lost: float) -> str:
    return "all 16" if lost >= 15.9 else f"{fixed(lost)} of 16"


def precision_caption(point, check=None) -> Text | None:
    """Digits the graph's derivative lost at a point, and the node where the loss is born (and why);
    at a point without a truth, why it has none."""
    if not point.checked:
        return unchecked_line(point, check)
    note = getattr(point.reference, "note", "")
    if "digits_lost" not in point.extra:
        return Text(f"truth: numerical ({note})", style="dim") if note else None
    lost, worst, reason = point.extra["digits_lost"], point.extra["worst_node"], point.extra.get("reason")
    style = _lost_style(lost)
    text = Text.assemble("digits lost by autograd through the graph: ", (_lost(lost), style))
    if reason:
        text.append(f": {reason}", style=style)
    elif worst["digits_lost"] > 0:
        text.append(f"; worst node {worst['name']} = {worst['expression']} "
                    f"({fixed(worst['digits_lost'])} digits lost there)")
    if note:
        text.append(f" · truth: numerical ({note})", style="dim")
    return text


def unchecked_line(point, check, named: bool = False) -> Text:
    """Why a point has no verdict (and the graph's own failure there, where one is named); ``named``:
    with the point first, under a table of several, where "here" alone would not say which."""
    reason = point.extra.get("reason")
    message = truths.message(point, check)
    if named and point.status not in truths.NAMES_THE_POINT:
        message = f"{_inputs(point)}: {message}"
    return Text(message + (f"; the graph: {reason}" if reason else ""), style="yellow")


def why_failed(check) -> str | None:
    """Where and why autograd through an expression's graph failed, in one line; None without a reason."""
    failed = [p for p in check.points if p.ok is False and p.extra.get("reason")]
    if not failed:
        return None
    worst = max(failed, key=lambda p: p.extra.get("digits_lost", 0))
    where = f"at {_inputs(worst)}"
    if len(failed) > 1:
        axis = check.variables[0]
        xs = [p.inputs[axis] for p in failed]
        where = (f"at {len(failed)} of {len(check.points)} points ({axis} in [{num(min(xs), 3)}, {num(max(xs), 3)}]); "
                 f"worst {where}")
    return f"{where}: {worst.extra['reason']}"


def what_failed(check) -> str:
    """What made a check fail, named: the judged column, f's value, or gradcheck."""
    subject = "the custom Function" if check.has_custom else "autograd through the graph"
    parts = []
    if not check.checked:
        return f"no point could be checked ({truths.message(check.points[0], check)}), so nothing was verified"
    wrong = [p for p in check.points if p.checked and not all(c.ok for _, c in check.entries(p))]
    if wrong:
        parts.append(f"{subject} disagrees with the analytic reference at {len(wrong)} of {len(check.points)} "
                     f"point(s), e.g. {_inputs(wrong[0])}")
    value = [p for p in check.points if p.ok is False and p not in wrong]
    if value:
        parts.append(f"f's value disagrees with the truth at {len(value)} point(s), e.g. {_inputs(value[0])} "
                     f"(f = {full(value[0].value, check.dtype)}, true {full(value[0].value_analytic)})")
    if check.gradcheck is False:
        parts.append(f"torch.autograd.{check.order.gradcheck_name} failed")
    return "; ".join(parts) or f"{subject} disagrees with the analytic reference"


def _inputs(point) -> str:
    """The inputs as the user typed them (their shortest repr): 1e300, not 1.0000000000000001e+300."""
    return ", ".join(f"{k} = {full(v)}" for k, v in point.inputs.items())


# ---- one point: every method, one row each ------------------------------------------------------------


def check_point(check, point, derivative_label: str | None = None) -> Fit:
    verdict = (Text("not checked", style="yellow") if point.ok is None
               else Text("ok", style="bold green") if point.ok else Text("FAILED", style="bold red"))
    title = Text.assemble(f"{check.function} at {_inputs(point)}:  f = {full(point.value, check.dtype)}  ", verdict)
    table = _data_table(title)
    table.add_column("derivative", no_wrap=True)
    table.add_column("method", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True, min_width=22)
    table.add_column("abs error", justify="right", no_wrap=True)
    table.add_column("rel error", justify="right", no_wrap=True)
    for key, comp in check.entries(point):
        table.add_row(check.label(key), tables.METHOD_LABELS["analytic"], full(comp.analytic), "", "")
        for method, value in comp.methods().items():
            style = None if method != check.judged or comp.ok is None else ("green" if comp.ok else "bold red")
            table.add_row("", tables.method_label(method, derivative_label), full(value, check.dtype),
                          err(comp.abs_error.get(method)), err(comp.rel_error.get(method)), style=style)
    return Fit(table, label_columns=2)


# ---- several points: one table, a row per point (and derivative) ---------------------------------------


def _shown_points(points, show_all: bool) -> list[int | None]:
    """Indices of the points to show (None: an elision): all with --all; else the first ones and
    every wrong one after them, so a failure is never hidden by the cut."""
    if show_all or len(points) <= MAX_POINT_ROWS:
        return list(range(len(points)))
    rows: list[int | None] = list(range(MAX_POINT_ROWS))
    for i in (i for i, p in enumerate(points) if not p.ok and i >= MAX_POINT_ROWS):
        if rows[-1] is not None and i != rows[-1] + 1:
            rows.append(None)
        rows.append(i)
    if rows[-1] != len(points) - 1:
        rows.append(None)
    return rows


def points_table(check, show_all: bool = False, all_columns: bool = False,
                 derivative_label: str | None = None) -> Group:
    """A row per point and derivative: the inputs, the truth, the judged method, its error and ✓;
    every other method's value and error with `all_columns` (80 columns hold the default)."""
    typed = "digits_lost" in check.points[0].extra
    several = len(list(check.entries(check.points[0]))) > 1  # two variables, or a Hessian of two
    methods = [check.judged]
    if all_columns:
        methods = list(next(check.entries(check.points[0]))[1].methods())
    table = _data_table(f"{check.function}: {'the gradient' if check.order == 1 else 'the second derivatives'} "
                        f"at each point ({check.dtype})")
    for name in check.variables:
        table.add_column(name, justify="right", no_wrap=True)
    if several:
        table.add_column("derivative", no_wrap=True)
    if all_columns:
        table.add_column("f", justify="right", no_wrap=True)
    table.add_column("analytic", justify="right", no_wrap=True)
    for method in methods:
        table.add_column(tables.method_label(method, derivative_label), justify="right", no_wrap=True)
        table.add_column("rel error", justify="right", no_wrap=True)
    if typed:
        table.add_column("lost", justify="right", no_wrap=True)
        table.caption, table.caption_justify = "lost: decimal digits of 16 that autograd through the graph lost", "left"
    table.add_column("ok", justify="center", no_wrap=True)
    rows = _shown_points(check.points, show_all)
    for i in rows:
        if i is None:
            table.add_row(*["…" for _ in table.columns], style="dim")
            continue
        point = check.points[i]
        for j, (key, comp) in enumerate(check.entries(point)):
            cells: list[str | Text] = [general(point.inputs[v]) if j == 0 else "" for v in check.variables]
            cells += [check.label(key)] if several else []
            cells += [full(point.value, check.dtype) if j == 0 else ""] if all_columns else []
            cells.append(full(comp.analytic))
            for method in methods:
                cells += [full(getattr(comp, method), check.dtype), err(comp.rel_error.get(method))]
            if typed:
                lost = point.extra["digits_lost"]
                cells.append(Text(fixed(lost), style=_lost_style(lost)) if j == 0 and lost is not None else "")
            if not point.checked:  # no truth here: not judged (the line under the table says why)
                table.add_row(*cells, Text("–", style="yellow"), style="yellow")
                continue
            ok = bool(comp.ok and point.ok)
            table.add_row(*cells, _mark(ok), style=None if ok else "red")
    parts: list[RenderableType] = [Fit(table, label_columns=len(check.variables) + several,
                                       named=len(check.variables))]
    shown = sum(i is not None for i in rows)
    if shown < len(check.points):
        parts.append(Text(f"{shown} of {len(check.points)} points shown (the first {MAX_POINT_ROWS} and every "
                          "wrong one); --all shows every row", style="dim"))
    unchecked = [check.points[i] for i in rows if i is not None and not check.points[i].checked]
    parts += [unchecked_line(p, check, named=True) for p in unchecked[:MAX_UNCHECKED_LINES]]
    if len(unchecked) > MAX_UNCHECKED_LINES:
        parts.append(Text(f"... and {len(unchecked) - MAX_UNCHECKED_LINES} more point(s) not checked", style="dim"))
    return Group(*parts)


# ---- the summary -------------------------------------------------------------------------------------


def _errors_row(check) -> str:
    methods = [m for m in ("custom", "autograd", "finite_difference") if m != "custom" or check.has_custom]
    return ",  ".join(f"{tables.METHOD_LABELS[m]} {err(check.max_abs_error(m))}" for m in methods)


def _gradcheck_row(check) -> str | Text:
    if not check.has_custom:
        return "not applicable: no hand-written backward; autograd is judged against the 50-digit truth"
    if check.gradcheck is None:
        return "skipped: no point with |x| <= 1e6 (its fixed step is meaningless beyond)"
    style = "green" if check.gradcheck else "bold red"
    return Text(f"{'passed' if check.gradcheck else 'FAILED'} (float64, {check.gradcheck_points} point(s))",
                style=style)


def check_summary(check) -> Fit:
    n = len(check.points)
    good = sum(bool(p.ok) for p in check.points)
    judged = check.checked
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    params = ", ".join(f"{k} = {num(v)}" for k, v in check.params.items())
    table.add_row("function", check.function + (f"  ({params})" if check.params else ""))
    table.add_row("points", f"{n} in {check.dtype}, rtol {general(check.rtol)} against analytic"
                  + (f"; {n - judged} not checked" if judged < n else ""))
    if judged:
        table.add_row("max |error|", _errors_row(check))
    worst = check.worst()
    if worst is not None and n > 1:
        point, key, rel = worst
        table.add_row(f"worst {check.judged} point", "none: it equals the truth exactly at every point" if rel == 0
                      else f"{_inputs(point)} ({check.label(key)}, rel error {err(rel)})")
    if "precision" in check.extra and n > 1:
        table.add_row("precision", check.extra["precision"])
    overflow = [p for p in check.points if p.shared_overflow]
    if overflow:
        table.add_row("overflow", f"f and its derivative overflow float64 at {len(overflow)} point(s), e.g. "
                                  f"{_inputs(overflow[0])}, and so do their true values: inf is right there")
    failures = check.graph_failures
    if failures:
        lost = max(p.graph_digits_lost for p in failures)
        whose = "the graph" if "expression" in check.extra else "report's graph"
        table.add_row(whose, Text(f"wrong at {len(failures)} point(s), e.g. {_inputs(failures[0])}: up to "
                                  f"{fixed(lost)} digits lost (value or autograd through it)", style="yellow"))
    table.add_row(check.order.gradcheck_name, _gradcheck_row(check))
    for finding in check.findings:
        if finding["code"] != "nothing-checked":
            table.add_row(finding["code"], Text(truths.finding_line(finding, check),
                                                style="dim" if finding["severity"] == "info" else "yellow"))
    table.add_row("verdict", _verdict(judged, good, n))
    return Fit(table)


def _verdict(judged: int, good: int, n: int) -> Text:
    which = "checked " if judged < n else ""
    if not judged:
        return Text("nothing checked: no point has a truth to judge against", style="bold red")
    if good == judged:
        return Text(f"all {judged} {which}point(s) ok", style="bold green")
    return Text(f"{judged - good} of {judged} {which}point(s) FAILED", style="bold red")


def check_tables(check, show_all: bool = False, derivative_label: str | None = None,
                 all_columns: bool = False) -> Group:
    """One point: its table of methods (and the digits its graph lost); several: one table with a
    row per point. Then the legend of the columns and the summary."""
    parts: list[RenderableType] = [expression_header(check)] if "expression" in check.extra else []
    if len(check.points) == 1:
        parts.append(check_point(check, check.points[0], derivative_label))
        caption = precision_caption(check.points[0], check)
        if caption is not None:
            parts.append(caption)
    else:
        parts.append(points_table(check, show_all, all_columns, derivative_label))
    parts.append(Text(legend(check, derivative_label), style="dim"))
    parts.append(check_summary(check))
    return Group(*parts)
