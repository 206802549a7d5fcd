"""`backprop grad` and `hessian`: a table per point, the legend, the summary and why a check failed."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from backpropcli.present import truths
from backpropcli.present.fmt import error as err
from backpropcli.present.fmt import full, num
from backpropcli.present.terminal.fit import Fit

METHOD_LABELS = {
    "analytic": "analytic",
    "custom": "custom",
    "autograd": "autograd",
    "finite_difference": "finite diff",
    "derivative_graph": "f′ graph",
}


def legend(check, derivative_label: str | None) -> str:
    first = check.order == 1  # the gradient; 2: the Hessian
    typed = "expression" in check.extra  # a function the user typed
    if typed:
        parts = ["analytic: sympy's derivative of the same tree at 50 digits (two-sided limits where 0/0), "
                 "confirmed by finite differences of the tree in mpmath"]
    else:
        parts = ["analytic: closed form, mpmath at 50 digits"]
    if check.has_custom:
        custom = "the autograd.Function's backward" if first else "reverse over reverse through the custom backward"
        parts.append(f"custom: {custom}")
    if typed:
        parts.append("autograd: through the expression's graph, one node per operation"
                     + ("" if first else ", reverse over reverse"))
    else:
        parts.append("autograd: through the report's decomposed graph")
    parts.append(f"finite diff: central difference of {'f' if first else 'the gradient'}")
    text = " · ".join(parts)
    if derivative_label and not first and len(check.variables) == 1:
        whose = "the graph of the symbolic f′" if typed else "the report's graph of f′"
        text += f" · {derivative_label}: autograd through {whose}"
    return text


# ---- a typed expression: its symbolic derivatives and where its graph loses digits ----------------

DERIVATIVE_LABELS = {"df/d": "∂f/∂", "d2f/d": "∂²f/∂"}


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


def precision_caption(point, check=None) -> Text | None:
    """Digits the graph's derivative lost at a point, and the node where the loss is born (and why);
    at a point without a truth, why it has none."""
    if not point.checked:
        reason = point.extra.get("reason")
        return Text(truths.message(point, check) + (f"; the graph: {reason}" if reason else ""), style="yellow")
    note = getattr(point.reference, "note", "")
    if "digits_lost" not in point.extra:
        return Text(f"truth: numerical ({note})", style="dim") if note else None
    lost, worst, reason = point.extra["digits_lost"], point.extra["worst_node"], point.extra.get("reason")
    style = "green" if lost < 2 else ("yellow" if lost <= 6 else "bold red")
    shown = "all 16" if lost >= 15.9 else f"{lost:.1f} of 16"
    text = Text.assemble("digits lost by autograd through the graph: ", (shown, style))
    if reason:
        text.append(f": {reason}", style=style)
    elif worst["digits_lost"] > 0:
        text.append(f"; worst node {worst['name']} = {worst['expression']} "
                    f"({worst['digits_lost']:.1f} digits lost there)")
    if note:
        text.append(f" · truth: numerical ({note})", style="dim")
    return text


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
        first = check.points[0]
        return f"no point could be checked ({truths.message(first, check)}), so nothing was verified"
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


MAX_POINT_TABLES = 20


def _inputs(point) -> str:
    """The inputs as the user typed them (their shortest repr): 1e300, not 1.0000000000000001e+300."""
    return ", ".join(f"{k} = {full(v)}" for k, v in point.inputs.items())


def check_point(check, point, derivative_label: str | None = None) -> Fit:
    verdict = (Text("not checked", style="yellow") if point.ok is None
               else Text("ok", style="bold green") if point.ok else Text("FAILED", style="bold red"))
    title = Text.assemble(f"{check.function} at {_inputs(point)}:  f = {full(point.value, check.dtype)}  ", verdict)
    table = Table(title=title, title_justify="left")
    table.add_column("derivative", no_wrap=True)
    table.add_column("method", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True, min_width=22)
    table.add_column("abs error", justify="right", no_wrap=True)
    table.add_column("rel error", justify="right", no_wrap=True)
    for index, (key, comp) in enumerate(check.entries(point)):
        if index:
            table.add_section()
        table.add_row(check.label(key), METHOD_LABELS["analytic"], full(comp.analytic), "", "")
        for method, value in comp.methods().items():
            name = METHOD_LABELS[method]
            if method == "derivative_graph" and derivative_label:
                name = derivative_label
            style = None if method != check.judged or comp.ok is None else ("green" if comp.ok else "bold red")
            table.add_row("", name, full(value, check.dtype), err(comp.abs_error.get(method)),
                          err(comp.rel_error.get(method)), style=style)
    return Fit(table, label_columns=2)


def check_summary(check) -> Fit:
    n = len(check.points)
    good = sum(bool(p.ok) for p in check.points)
    judged = check.checked
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    params = ", ".join(f"{k} = {num(v)}" for k, v in check.params.items())
    table.add_row("function", check.function + (f"  ({params})" if check.params else ""))
    table.add_row("points", f"{n} in {check.dtype}, rtol {check.rtol:g} against analytic"
                  + (f"; {n - judged} not checked" if judged < n else ""))
    methods = [m for m in ("custom", "autograd", "finite_difference") if m != "custom" or check.has_custom]
    if judged:
        table.add_row("max |error|", ",  ".join(f"{METHOD_LABELS[m]} {err(check.max_abs_error(m))}" for m in methods))
    worst = check.worst()
    if worst is not None and n > 1:
        point, key, rel = worst
        table.add_row(f"worst {check.judged} point", f"{_inputs(point)} ({check.label(key)}, rel error {err(rel)})")
    if "precision" in check.extra and n > 1:
        table.add_row("precision", check.extra["precision"])
    overflow = [p for p in check.points if p.extra.get("reason", "").startswith("f and f")]
    if overflow:
        table.add_row("overflow", f"f and its derivative overflow float64 at {len(overflow)} point(s), e.g. "
                                  f"{_inputs(overflow[0])}, and so do their true values: inf is right there")
    failures = check.graph_failures
    if failures:
        example = _inputs(failures[0])
        lost = max(p.graph_digits_lost for p in failures)
        whose = "the graph" if "expression" in check.extra else "report's graph"
        table.add_row(whose, Text(f"wrong at {len(failures)} point(s), e.g. {example}: up to "
                                  f"{lost:.1f} digits lost (value or autograd through it)", style="yellow"))
    name = check.order.gradcheck_name
    if not check.has_custom:
        table.add_row(name, "not applicable: no hand-written backward; autograd is judged against the "
                            "50-digit truth")
    elif check.gradcheck is None:
        table.add_row(name, "skipped: no point with |x| <= 1e6 (its fixed step is meaningless beyond)")
    else:
        style = "green" if check.gradcheck else "bold red"
        table.add_row(name, Text(f"{'passed' if check.gradcheck else 'FAILED'} "
                                 f"(float64, {check.gradcheck_points} point(s))", style=style))
    for finding in check.findings:
        if finding["code"] != "nothing-checked":
            table.add_row(finding["code"], Text(truths.finding_line(finding, check),
                                                style="dim" if finding["severity"] == "info" else "yellow"))
    which = "checked " if judged < n else ""
    if not judged:
        verdict = Text("nothing checked: no point has a truth to judge against", style="bold red")
    elif good == judged:
        verdict = Text(f"all {judged} {which}point(s) ok", style="bold green")
    else:
        verdict = Text(f"{judged - good} of {judged} {which}point(s) FAILED", style="bold red")
    table.add_row("verdict", verdict)
    return Fit(table)


def check_tables(check, show_all: bool = False, derivative_label: str | None = None) -> Group:
    shown = check.points if show_all else check.points[:MAX_POINT_TABLES]
    parts: list[Table | Fit | Text] = [expression_header(check)] if "expression" in check.extra else []
    for p in shown:
        parts.append(check_point(check, p, derivative_label))
        caption = precision_caption(p, check)
        if caption is not None:
            parts.append(caption)
    if len(shown) < len(check.points):
        parts.append(Text(f"... {len(check.points) - len(shown)} more point(s); --all shows every table",
                          style="dim"))
    parts.append(Text(legend(check, derivative_label), style="dim"))
    parts.append(check_summary(check))
    return Group(*parts)
