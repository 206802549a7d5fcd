"""`backprop report` rendered: a report run's results as Markdown and as one HTML page.

It runs nothing itself: runs.report computes the tables, figures, traces and
verdicts; here they become text. The list of corrections is decided from the
numbers (what the report gets wrong), not written by hand.
"""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path

from backpropcli.present import fmt, tables
from backpropcli.present.fmt import general, num, partial

# ---- Markdown helpers --------------------------------------------------------------------------


def _cell(value, dtype: str = "float64") -> str:
    """A float as the shortest text that reads back as the same number in the run's dtype: a
    float32 run's 0.3 is 0.3, not the float64 expansion 0.30000001192092896."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"**{value}**"
        return fmt.full(value, dtype)  # as the terminal prints it: 1, not 1.0
    if isinstance(value, list):
        return fmt.vector(value, 6, 4)
    return str(value).replace("|", "\\|")


NUMBER_TEXT = re.compile(r"\*{0,2}(-?(\d+(\.\d*)?(e[-+]?\d+)?|nan|inf)|–)\*{0,2}")


def _is_number(value) -> bool:
    """A number, a vector, or a number already written as text (an error "1.3e-16", "**nan**")."""
    if value is None or isinstance(value, (int, float, list)) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and NUMBER_TEXT.fullmatch(value) is not None


def _table(headers: list[str], rows: list[list], dtypes: list[str] | str = "float64") -> str:
    """dtypes: one for the whole table, or one per column."""
    kinds = [dtypes] * len(headers) if isinstance(dtypes, str) else dtypes
    numeric = [bool(rows) and all(_is_number(row[i]) for row in rows) for i in range(len(headers))]
    # numbers right-aligned (their digits line up), text left-aligned (it reads from the left)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(_cell(v, kind) for v, kind in zip(row, kinds)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _err(value: float | None) -> str:
    if value is None:
        return "–"
    return f"**{value}**" if not math.isfinite(value) else fmt.error(value)


def _figures(items) -> str:
    """Figures one under the other, each with its name: a page holds each at its full width, so
    its text stays legible (side by side, each would shrink to half)."""
    return "".join(f"\n**{name}**, {what}.\n\n![{name}, {what}]({path.name})\n" for name, what, path in items)


def _check_table(check, derivative_label: str | None = None) -> str:
    """One row per point and derivative: the four (or five) columns and the judged column's error."""
    with_graph = any(c.derivative_graph is not None for p in check.points for _, c in check.entries(p))
    methods = ["analytic", *(["custom"] if check.has_custom else []), "autograd", "finite_difference",
               *(["derivative_graph"] if with_graph else [])]
    headers = ["point", "derivative", *(tables.method_label(m, derivative_label) for m in methods)]
    headers += [f"{check.judged} rel. error", "ok"]
    rows = []
    for point in check.points:
        where = tables.where(point.inputs)
        for key, comp in check.entries(point):
            row = [where, check.label(key), comp.analytic] + ([comp.custom] if check.has_custom else [])
            row += [comp.autograd, comp.finite_difference] + ([comp.derivative_graph] if with_graph else [])
            row += [_err(comp.rel_error.get(check.judged)), "yes" if comp.ok else "**NO**"]
            rows.append(row)
    verdict = {True: "passed", False: "**FAILED**", None: "skipped"}[check.gradcheck]
    legend = " · ".join(f"**{name}**: {meaning}" for name, meaning in tables.method_meanings(check, derivative_label))
    return (_table(headers, rows) + f"\n{legend}.\n\n"
            f"`torch.autograd.{check.order.gradcheck_name}` (float64): {verdict}.\n")


def _trace_tables(traced, symbol: str) -> str:
    nodes = [[r["name"], tables.shown_expression(r), r["value"], r["grad"]] for r in tables.node_rows(traced)]
    edges = [[tables.edge_name(r), r["local"], r["rule"], r["upstream"], r["downstream"]]
             for r in tables.edge_rows(traced)]
    headers = list(tables.EDGE_HEADERS)
    headers[3] += " " + partial(symbol, "child")
    return (_table(tables.node_headers(symbol), nodes, traced.dtype) + "\n"
            + _table(headers, edges, traced.dtype))


# ---- the report ---------------------------------------------------------------------------------


def markdown(run) -> str:
    """The whole report as Markdown (figures referenced by file name, beside it in run.folder)."""
    md = ["# An introduction to backpropagation, recomputed\n",
          f"Every number, table and figure below was computed by `backprop report` from {run.source}; "
          "the analytic columns are closed forms evaluated with mpmath at 50 "
          "digits, the ground truth every other column is measured against.\n"]
    md += _part_a(run)
    md += _discussion(run)
    md += _part_b(run)
    md.append("\n## Where the report needs correcting\n")
    corrections = _corrections(run)
    md.append("\n".join(f"{i}. {text}" for i, text in enumerate(corrections, start=1)) + "\n")
    md.append("\n## Summary of the checks\n")
    md.append(_table(["check", "result", "detail"], [[v.name, "ok" if v.ok else "**FAILED**", v.detail]
                                                    for v in run.verdicts]))
    return "\n".join(md)


REGRESSION_ROWS = (
    ("learning rate", lambda r: r.config.lr), ("iterations", lambda r: r.iters_run),
    ("dtype", lambda r: r.config.dtype), ("W (final)", lambda r: r.W), ("b (final)", lambda r: r.b),
    ("loss (final)", lambda r: r.final_loss),
    ("least squares W, b", lambda r: f"{general(r.optimum.W)}, {general(r.optimum.b)}"),
    ("distance to optimum", lambda r: r.distance), ("largest stable lr, 2/λmax", lambda r: r.curvature.lr_max),
    ("steps plain GD needs", lambda r: r.iters_to_converge), ("verdict", lambda r: r.verdict),
)


def _one_data_text(result) -> str:
    data, opt = result.data, result.optimum
    where = "" if data.source == "config" else f" (from `{data.source}`)"
    return (f"x = {fmt.vector(data.x, 6, 4)}, y = {fmt.vector(data.y, 6, 4)}{where}, {len(data.x)} points "
            f"(least squares: y = {general(fmt.unsigned(opt.W))}·x + {general(fmt.unsigned(opt.b))})")


def _data_text(report, converged) -> str:
    """The data each regression actually ran on, described from the run (not the report's text)."""
    first, second = _one_data_text(report), _one_data_text(converged)
    return first if first == second else f"{first} (report's settings) and {second} (settings that converge)"


def _part_a(run) -> list[str]:
    report, converged = run.regressions["report"], run.regressions["converged"]
    figures = run.regression_figures
    rows = [[label, get(report), get(converged)] for label, get in REGRESSION_ROWS]
    return [
        "## Part A: linear regression by gradient descent\n",
        f"ŷ = W·x + b fitted to {_data_text(report, converged)} by the report's loop: "
        "MSE, `backward()`, the update under `torch.no_grad()`, then `grad.zero_()`.\n",
        _table(["", "report (`regress.yaml`)", "converges (`regress-converged.yaml`)"], rows,
               ["float64", report.config.dtype, converged.config.dtype]),
        _changed(report.config, converged.config),
        _figures([("Figure 1", "the report's settings", figures["report"][0]),
                  ("Figure 2", "the report's settings", figures["report"][1]),
                  ("Figure 1", "settings that converge", figures["converged"][0]),
                  ("Figure 2", "settings that converge", figures["converged"][1])]),
        "\n### The graph of one iteration's loss\n",
        f"![regression graph](regression-graph.png)\n\n{_explorer_link('regression-graph', 'this graph')}\n\n"
        f"{_trace_tables(run.loss_trace, 'L')}",
    ]


def _part_b(run) -> list[str]:
    md = ["\n## Part B: custom autograd Functions\n",
          "Each derivative is computed four ways and measured against the first, the analytic one; the line "
          "under each table says what each column is.\n"]
    for part in run.functions:
        spec = part.spec
        md.append(f"### {spec.heading or spec.summary}\n")
        md.append(f"f = {spec.formulas.f}; f′ = {spec.formulas.df}; f″ = {spec.formulas.d2f}\n")
        md.append("**First derivative**\n\n" + _check_table(part.gradient))
        md.append("\n**Second derivative**\n\n" + _check_table(part.hessian, spec.derivative_graph_title))
        for figure in part.figures:
            caption = tables.trace_title(figure.trace, figure=False)  # its name is said once, in bold
            md.append(f"\n**{figure.title}.** {caption}\n\n![{figure.title}]({figure.file_stem}.png)"
                      f"\n\n{_explorer_link(figure.file_stem, figure.title)}"
                      f"\n\n{_trace_tables(figure.trace, figure.symbol)}")
    return md


def _explorer_link(file_stem: str, what: str) -> str:
    """A link to the explorer page written beside the report (app.views.write_explorer names it)."""
    return (f"[Step through {what} in a browser]({file_stem}-explorer.html): the forward pass node by node, "
            "then the backward pass from the output, every number as it is computed.")


def _changed(before, after) -> str:
    """Which settings the converging run changes, named: nothing is changed silently."""
    keys = ("lr", "iters", "dtype", "tol", "w0", "b0", "zero_grad")
    fields = [k for k in keys if getattr(before, k) != getattr(after, k)]
    if not fields:
        return "\nThe two runs use the same settings.\n"
    changes = ", ".join(f"{k} {getattr(before, k)} → {getattr(after, k)}" for k in fields)
    why = {"lr": "lr just under the stability limit 2/λmax makes the slow direction contract fastest",
           "iters": "enough steps for plain GD at that lr", "dtype": "float64, so the fit can come within tol "
           "of the optimum without float32 noise", "tol": "a stricter tolerance, so converged means close"}
    reasons = "; ".join(why[k] for k in fields if k in why)
    return f"\nThe converging run changes {len(fields)} setting(s): {changes} ({reasons}).\n"


def _discussion(run) -> list[str]:
    """Figure 3 and the report's discussion points (1), (3), (4), each shown by running it."""
    md = []
    gate = run.gate
    if gate is not None:
        md += ["\n## Backpropagation through one gate\n",
               f"**Figure 3.** One gate of a real run, node {gate.node} of {tables.trace_title(gate.figure.trace)}: "
               "the gradient arriving from the output (upstream) times the gate's own derivative (local) is the "
               f"gradient it passes back to each input (downstream).\n\n![Figure 3]({gate.file.name})\n"]
    d = run.discussion
    if d is None:
        return md
    nz = d.no_zero_grad
    md += ["\n## The report's discussion points, run\n",
           "**(1) The graph is rebuilt on every forward pass.** Two forward passes of the same loss at the same "
           f"W, b record two graphs: `loss.grad_fn` is a `{d.grad_fns[0]}` the first time and a `{d.grad_fns[1]}` "
           f"the second, and `first.grad_fn is second.grad_fn` is `{d.same_grad_fn}`: "
           f"{'the same object' if d.same_grad_fn else 'two objects'}. PyTorch's graph is dynamic: "
           "built while the forward pass runs, freed by `backward()`.\n",
           "**(3) Without `zero_()` gradients accumulate.** `backward()` adds into `.grad`: after one call "
           f"∂L/∂W = {fmt.full(d.grad_once, nz.config.dtype)}; a second call at the same W, b leaves "
           f"W.grad = {fmt.full(d.grad_twice, nz.config.dtype)}, twice as much. Training so "
           f"(`backprop regress --no-zero-grad`) steps along the running sum of every gradient so far: after "
           f"{nz.iters_run} steps W = {fmt.full(nz.W, nz.config.dtype)}, b = {fmt.full(nz.b, nz.config.dtype)}; "
           f"verdict: **{nz.verdict}**.\n",
           _figures([("Figure 1", "grads not zeroed", d.no_zero_grad_figures[0]),
                     ("Figure 2", "grads not zeroed", d.no_zero_grad_figures[1])]),
           "\n**(4) Without `torch.no_grad()` the update fails.** `W -= lr * W.grad` on the leaf W, which "
           f"requires grad, outside `torch.no_grad()`: PyTorch raises\n\n```\nRuntimeError: {d.no_grad_error}\n```\n"]
    return md


def _corrections(run) -> list[str]:
    texts = [_regression_correction(run)]
    for broken in run.breakages:
        for gp, hp in zip(broken.gradient.points, broken.hessian.points):
            texts += _breakage_correction(broken.spec, gp, hp)
    return texts


def _regression_correction(run) -> str:
    r, converged = run.regressions["report"], run.regressions["converged"]
    if r.converged:
        return f"The regression did converge with these settings (W = {general(r.W)}, b = {general(r.b)})."
    needed = ("never at this learning rate" if r.iters_to_converge is None
              else f"{r.iters_to_converge} iterations at this learning rate")
    return (
        f"**The regression has not converged.** The report says the model \"successfully converges\" to "
        f"y = −x + 1. After {r.iters_run} iterations at lr {general(r.config.lr)}, W = {general(r.W)} and "
        f"b = {general(r.b)} "
        f"(least squares: {general(r.optimum.W)}, {general(r.optimum.b)}; distance {num(r.distance, 4)}; loss "
        f"{general(r.final_loss)}). Plain gradient descent needs {needed} to come within "
        f"{general(r.config.tol)}·|optimum|: the slow direction of the MSE's Hessian (λmin = "
        f"{num(r.curvature.lambda_min, 4)}) contracts the error only by 1 − lr·λmin = "
        f"{general(1 - r.config.lr * r.curvature.lambda_min)} per step. Any lr below 2/λmax = "
        f"{general(r.curvature.lr_max)} is stable; with lr {general(converged.config.lr)} it converges in "
        f"{converged.iters_to_converge} steps (`regress-converged.yaml`).")


def _breakage_correction(spec, gp, hp) -> list[str]:
    """A correction where the report's graph gives nan/inf at the point; none where it holds."""
    (key, comp), (_, second) = next(gp.entries(spec.variables)), next(hp.entries(spec.variables))
    if math.isfinite(gp.value_graph) and math.isfinite(comp.autograd):
        return []

    def shown(value: float) -> str:
        return fmt.exact(fmt.unsigned(value))

    return [f"**{spec.name} at {key} = {general(gp.inputs[key])}: the report's graph breaks.** Its forward value is "
            f"{gp.value_graph} and its autograd gradient {comp.autograd} (second derivative {second.autograd}). "
            f"The custom Function gives f = {shown(gp.value)}, f′ = {shown(comp.custom)}, "
            f"f″ = {shown(second.custom)}; the analytic values are {shown(gp.value_analytic)}, "
            f"{shown(comp.analytic)}, {shown(second.analytic)}."]


MIN_TEXT_PX = 11  # the smallest text a figure may shrink to on the page (a margin over 10 px)

HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>backprop report</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 16px; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #1f2933; }}
.scroll, p {{ overflow-x: auto; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 14px; }}
th, td {{ border: 1px solid #cbd2d9; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #f0f4f8; }}
img {{ display: block; height: auto; }} code {{ background: #f0f4f8; padding: 0 0.2em; }}
</style></head><body>
{body}
</body></html>
"""


def _figure_style(data: bytes) -> str:
    """A figure as wide as the page, never wider than itself, and never so narrow that its
    smallest text falls under MIN_TEXT_PX (its paragraph scrolls sideways instead)."""
    from backpropcli.present.figures.common import png_facts

    width, text_px = png_facts(data)
    legible = width if text_px is None else min(width, math.ceil(width * MIN_TEXT_PX / text_px))
    return f"width: 100%; max-width: {width}px; min-width: {legible}px"


def to_html(text: str, folder: Path) -> str:
    """The Markdown as one self-contained page: images embedded as data URIs, each sized to the
    page with a legible minimum, wide tables scrolling inside the page."""
    from markdown_it import MarkdownIt

    # html off: anything from outside (a config folder's name) is escaped, never a live element
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)

    def embed(match: re.Match) -> str:
        data = (folder / match.group(1)).read_bytes()
        return f'src="data:image/png;base64,{base64.b64encode(data).decode()}" style="{_figure_style(data)}"'

    body = re.sub(r'src="([^"/]+\.png)"', embed, body)
    body = body.replace("<table>", '<div class="scroll"><table>').replace("</table>", "</table></div>")
    return HTML_PAGE.format(body=body)
