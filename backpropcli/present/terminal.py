"""Rich renderables built from result dataclasses. No numerics here: only layout."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

from backpropcli.present.fmt import error as err
from backpropcli.present.fmt import full, num, partial, short


# ---- tables at any width ---------------------------------------------------------------------------
# A table that does not fit is never cut: rich would shorten a number to "5.6e…" (or crop its
# exponent at a very narrow width, a wrong number on screen). Below the width a table needs,
# the same cells are shown stacked: each row's label, then one "column  value" line per cell.


def _plain(cell) -> str:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain
    return ""


def _words(table: Table) -> list[str]:
    words = _plain(table.title or "").split()
    for column in table.columns:
        if table.show_header:
            words += _plain(column.header).split()
        for cell in column._cells:
            words += _plain(cell).split()
    return words


def _fits(console, width: int, table: Table) -> bool:
    """Every word of every cell comes out whole when `table` is drawn `width` columns wide."""
    import io

    from rich.console import Console

    probe = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False,
                    highlight=False, legacy_windows=False, emoji=False)
    probe.print(table)
    drawn = probe.file.getvalue()
    return all(word in drawn for word in _words(table))


def stacked(table: Table, label_columns: int = 1, named: bool = False) -> Group:
    """The cells of `table` as a list: the first `label_columns` cells of a row as its heading
    (blank leading cells repeat the ones above: a point's second row, ∂f/∂y, is still headed by
    its x and y; `named`: "x = 2", not a bare 2), then one "header  value" line for every other cell."""
    parts = []
    if table.title:
        title = table.title if isinstance(table.title, Text) else Text.from_markup(table.title)
        parts.append(Text.assemble(title, style="bold"))
    columns = table.columns
    above = [""] * label_columns
    for row in range(table.row_count):
        cells = [column._cells[row] for column in columns]
        label = []
        leading = True  # still in the blank cells that start a continuation row
        for i in range(min(label_columns, len(cells))):
            leading = leading and not _plain(cells[i])
            text = _plain(cells[i]) or (above[i] if leading else "")
            above[i] = text
            if text:
                header = _plain(columns[i].header) if table.show_header else ""
                if named and header:  # x = 2, and the derivative column's ∂f/∂ + y reads ∂f/∂y
                    text = f"{header}{text}" if header.endswith("∂") else f"{header} = {text}"
                label.append(text)
        fields = Table.grid(padding=(0, 2), pad_edge=False)
        fields.add_column(style="dim")
        fields.add_column(overflow="fold")  # the last resort: digits continue below, none lost
        for column, cell in list(zip(columns, cells))[label_columns:]:
            if _plain(cell):
                fields.add_row(_plain(column.header) if table.show_header else "", cell,
                               style=table.rows[row].style)
        heading = Text(" · ".join(label), style="bold")
        if fields.row_count:
            from rich.padding import Padding

            # narrower still: each value on a line of its own, under its column's name
            lines = Group(*[item for column, cell in list(zip(columns, cells))[label_columns:] if _plain(cell)
                            for item in (Text(_plain(column.header) if table.show_header else "", style="dim"),
                                         Padding(cell, (0, 0, 0, 2)))])
            parts += [heading, Padding(Fit(fields, narrow=lines), (0, 0, 0, 2))]
        else:
            parts.append(heading)
    return Group(*parts)


class Fit:
    """`table` when it fits the width it is given, else the same cells stacked."""

    def __init__(self, table: Table, label_columns: int = 1, narrow=None, named: bool = False):
        self.table, self.label_columns, self.narrow, self.named = table, label_columns, narrow, named

    def __rich_console__(self, console, options):
        if _fits(console, options.max_width, self.table):
            yield self.table
        else:
            yield self.narrow if self.narrow is not None else stacked(self.table, self.label_columns, self.named)

VERDICT_STYLE = {"converged": "bold green", "not converged yet": "bold yellow", "diverged": "bold red",
                 "oscillates (grads accumulate): never converges": "bold red"}


def regression(result) -> Group:
    cfg = result.config
    opt = result.optimum
    params = Table(title="Linear regression by gradient descent", title_justify="left")
    params.add_column("quantity")
    params.add_column("initial", justify="right")
    params.add_column("final", justify="right")
    params.add_column("least squares", justify="right")
    def n(value):  # the run's own precision: float32's shortest digits for a float32 run
        return full(value, cfg.dtype)

    params.add_row("W", n(result.W0), n(result.W), num(opt.W))
    params.add_row("b", n(result.b0), n(result.b), num(opt.b))
    params.add_row("loss (MSE)", n(result.initial_loss), n(result.final_loss),
                   "0 (exact fit)" if opt.exact_fit else num(opt.loss))

    diag = Table(show_header=False, box=None, padding=(0, 2))
    diag.add_column(style="bold")
    diag.add_column()
    diag.add_row("data", f"{result.n} points ({result.data.source}), {cfg.dtype} on {result.device}")
    diag.add_row("steps", f"{result.iters_run} of {cfg.iters} at lr {num(cfg.lr)}"
                 + ("" if cfg.zero_grad else ", grads NOT zeroed (they accumulate)"))
    diag.add_row("|(W,b) - optimum|", num(result.distance))
    diag.add_row("|grad L| at the end", num(result.grad_norm))
    diag.add_row("largest stable lr", f"2/lambda_max = {num(result.curvature.lr_max, 6)}"
                 f" (lambda_max = {num(result.curvature.lambda_max, 6)})")
    needed = result.iters_to_converge
    diag.add_row("steps plain GD needs", f"never ({result.steps_note})" if needed is None
                 else f"{needed} to reach tol {num(cfg.tol)} at this lr")
    if result.stopped_at is not None:
        diag.add_row("stopped", f"at iteration {result.stopped_at}: the loss blew up")
    verdict = Text(result.verdict, style=VERDICT_STYLE[result.verdict])
    diag.add_row("verdict", verdict)
    return Group(Fit(params), Fit(diag))


def advice(result) -> str | None:
    """One line of advice for a bad outcome, or None."""
    lr_max = result.curvature.lr_max
    if not result.config.zero_grad and not result.diverged:
        return ("the gradients were never zeroed, so each step used the running sum of all "
                "gradients so far: (W, b) overshoots and circles the optimum instead of settling")
    if result.diverged:
        if not math.isfinite(result.initial_loss):
            return (f"the very first loss is not finite: the data or the start (W0, b0) overflow "
                    f"{result.config.dtype}; rescale them")
        if not (math.isfinite(lr_max) and lr_max > 0):
            return f"x² overflows {result.config.dtype}, so no learning rate is stable: rescale the data"
        if result.config.lr >= lr_max:
            return (f"lr {num(result.config.lr)} is above the largest stable learning rate "
                    f"2/lambda_max = {num(lr_max, 6)}; try --lr {num(0.9 * lr_max, 3)}")
        if not result.config.zero_grad:
            return "the gradients were never zeroed, so each step used their running sum; drop --no-zero-grad"
        return "the loss blew up; try a smaller --lr"
    if not result.converged and result.config.zero_grad and result.iters_to_converge is not None:
        return f"not there yet: plain GD at this lr needs {result.iters_to_converge} steps (--iters)"
    return None


# ---- grad / hessian checks -------------------------------------------------------------------------

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
        parts = ["analytic: sympy's derivative of the same tree, mpmath at 50 digits (limits where 0/0)"]
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


def precision_caption(point) -> Text | None:
    """Digits the graph's derivative lost at a point, and the node where the loss is born (and why)."""
    if "digits_lost" not in point.extra:
        return None
    lost, worst, reason = point.extra["digits_lost"], point.extra["worst_node"], point.extra.get("reason")
    style = "green" if lost < 2 else ("yellow" if lost <= 6 else "bold red")
    shown = "all 16" if lost >= 15.9 else f"{lost:.1f} of 16"
    text = Text.assemble("digits lost by autograd through the graph: ", (shown, style))
    if reason:
        text.append(f": {reason}", style=style)
    elif worst["digits_lost"] > 0:
        text.append(f"; worst node {worst['name']} = {worst['expression']} "
                    f"({worst['digits_lost']:.1f} digits lost there)")
    return text


def why_failed(check) -> str | None:
    """Where and why autograd through an expression's graph failed, in one line; None without a reason."""
    failed = [p for p in check.points if not p.ok and p.extra.get("reason")]
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
    wrong = [p for p in check.points if not all(c.ok for _, c in check.entries(p))]
    if wrong:
        parts.append(f"{subject} disagrees with the analytic reference at {len(wrong)} of {len(check.points)} "
                     f"point(s), e.g. {_inputs(wrong[0])}")
    value = [p for p in check.points if not p.ok and p not in wrong]
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


def check_point(check, point, derivative_label: str | None = None) -> Table:
    verdict = Text("ok", style="bold green") if point.ok else Text("FAILED", style="bold red")
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
            style = None if method != check.judged else ("green" if comp.ok else "bold red")
            table.add_row("", name, full(value, check.dtype), err(comp.abs_error.get(method)),
                          err(comp.rel_error.get(method)), style=style)
    return Fit(table, label_columns=2)


def check_summary(check) -> Table:
    n = len(check.points)
    good = sum(p.ok for p in check.points)
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    params = ", ".join(f"{k} = {num(v)}" for k, v in check.params.items())
    table.add_row("function", check.function + (f"  ({params})" if check.params else ""))
    table.add_row("points", f"{n} in {check.dtype}, rtol {check.rtol:g} against analytic")
    methods = [m for m in ("custom", "autograd", "finite_difference") if m != "custom" or check.has_custom]
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
        table.add_row("the graph" if "expression" in check.extra else "report's graph", Text(f"wrong at {len(failures)} point(s), e.g. {example}: up to "
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
    verdict = (Text(f"all {n} point(s) ok", style="bold green") if good == n
               else Text(f"{n - good} of {n} point(s) FAILED", style="bold red"))
    table.add_row("verdict", verdict)
    return Fit(table)


def check_tables(check, show_all: bool = False, derivative_label: str | None = None) -> Group:
    shown = check.points if show_all else check.points[:MAX_POINT_TABLES]
    parts = [expression_header(check)] if "expression" in check.extra else []
    for p in shown:
        parts.append(check_point(check, p, derivative_label))
        caption = precision_caption(p)
        if caption is not None:
            parts.append(caption)
    if len(shown) < len(check.points):
        parts.append(Text(f"... {len(check.points) - len(shown)} more point(s); --all shows every table",
                          style="dim"))
    parts.append(Text(legend(check, derivative_label), style="dim"))
    parts.append(check_summary(check))
    return Group(*parts)


# ---- traces and autograd graphs --------------------------------------------------------------------


def trace(traced, symbol: str = "f") -> Group:
    """The report's hand derivation as two tables: nodes (forward values, upstream grads)
    and edges (local gradient, upstream, downstream = upstream × local)."""
    dt = traced.dtype
    nodes = Table(title=traced.title, title_justify="left")
    nodes.add_column("node", no_wrap=True)
    nodes.add_column("expression", no_wrap=True)
    nodes.add_column("value", justify="right")
    nodes.add_column(partial(symbol, "node"), justify="right", style="red")
    nodes.add_column("= sum over outgoing edges")
    for node in traced.nodes:
        edges = traced.outgoing(node.name)
        if node.name == traced.output:
            how = f"the output: ∂{symbol}/∂{symbol} = 1" if "/" not in symbol else f"the output ({symbol}): 1"
        elif node.grad is None:
            how = "data: no gradient needed"
        elif len(edges) == 1:
            how = f"via {edges[0].target}"
        else:
            how = " + ".join(f"{short(e.downstream, 6)} via {e.target}" for e in edges)
        nodes.add_row(node.name, node.expr if node.op != "input" else "input", short(node.value, dtype=dt),
                      short(node.grad, dtype=dt), how)

    edges = Table(title=f"chain rule along each edge parent → child: downstream = upstream × local "
                  f"(local = ∂child/∂parent, upstream = {partial(symbol, 'child')})", title_justify="left")
    edges.add_column("edge", no_wrap=True)
    edges.add_column("local", justify="right")
    edges.add_column("rule")
    edges.add_column("upstream", justify="right", style="red")
    edges.add_column("downstream", justify="right", style="red")
    for e in traced.edges:
        edges.add_row(f"{e.source} → {e.target}", short(e.local, dtype=dt), e.rule, short(e.upstream, dtype=dt),
                      short(e.downstream, dtype=dt))
    return Group(Fit(nodes), Fit(edges))


def autograd_graphs(trees: dict[str, dict], title: str, typed: bool = False,
                    of_derivative: bool = False) -> Group:
    """``typed``: the graph is a typed expression's, not the report's; ``of_derivative``: the
    trees are of f′, recorded by create_graph=True."""
    from rich.tree import Tree

    labels = {"custom": "custom Function (one node: its backward is hand-written)",
              "graph": "the expression's graph (one node per operation)" if typed
              else "the report's decomposed graph (one node per primitive)",
              "loss": "the report's training loss, mean((y - (W*x + b))**2)"}
    if of_derivative:  # the graph of f′ that a second backward pass walks
        labels = {"custom": "f′ from the custom Function's backward, recorded by create_graph=True "
                            "(the ops its backward ran)",
                  "graph": "f′ from the report's decomposed graph, recorded by create_graph=True"}

    def grow(branch, node):
        for child in node["children"]:
            grow(branch.add(child["name"]), child)

    parts = [Text(title, style="bold")]
    for kind, tree in trees.items():
        root = Tree(Text.assemble((labels.get(kind, kind), "dim"), "\n", tree["name"]))
        grow(root, tree)
        parts.append(root)
    return Group(*parts)


def report_summary(report) -> Group:
    table = Table(title="backprop report: the seed report recomputed and checked", title_justify="left")
    table.add_column("check")
    table.add_column("result", no_wrap=True)
    for item in report.verdicts:
        table.add_row(item.name, Text("ok", style="green") if item.ok else Text("FAILED", style="bold red"))
    good = sum(item.ok for item in report.verdicts)
    verdict = (Text(f"all {good} checks ok", style="bold green") if report.ok
               else Text(f"{len(report.verdicts) - good} of {len(report.verdicts)} checks FAILED", style="bold red"))
    return Group(Fit(table), verdict)


# ---- check: the doctor of a user's Function ------------------------------------------------------

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
    if show_all or len(points) <= MAX_POINT_TABLES:
        return list(range(len(points)))
    wrong = [i for i, p in enumerate(points) if not p.ok and i >= MAX_POINT_TABLES][:MAX_POINT_TABLES]
    rows: list[int | None] = list(range(MAX_POINT_TABLES))
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
        parts.append(Text(f"{shown} of {len(diagnosis.points)} points shown (the first {MAX_POINT_TABLES} and "
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
