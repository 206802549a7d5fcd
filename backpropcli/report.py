"""`backprop report`: the seed report recomputed, checked, and written as Markdown and HTML.

Everything in it is computed here from the report's experiment configs: the tables,
the figures, the graphs, and the list of corrections (what the report gets
wrong is decided from the numbers, not written by hand).
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from backpropcli import checks, config, functions, payloads, plots, regression, trace
from backpropcli.errors import ConfigError
from backpropcli.files import prepare_dir, write_text

CONFIG_FILES = ("regress.yaml", "regress-converged.yaml", "sinc.yaml", "quad.yaml", "softplus.yaml")
SINGULAR = {"sinc": [0.0], "softplus": [-1000.0, 1000.0]}  # where the report's graphs break


@dataclass
class Item:
    """One verdict of the report, for the console summary and the exit code."""

    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    folder: Path
    markdown: Path
    html: Path
    files: list[Path]
    items: list[Item]
    sections: dict = field(repr=False, default_factory=dict)  # the commands' own JSON payloads

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)


# ---- Markdown helpers --------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f"**{value}**"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(f"{v + 0.0:.6g}" for v in value[:4]) + (", …" if len(value) > 4 else "") + "]"
    return str(value).replace("|", "\\|")


def _table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _err(value: float | None) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return f"**{value}**"
    return "0" if value == 0 else f"{value:.1e}"


def _check_table(check: checks.Check, derivative_label: str | None = None) -> str:
    """One row per point and derivative: the four (or five) columns and the custom error."""
    with_graph = any(c.derivative_graph is not None for p in check.points for _, c in checks.entries(check, p))
    headers = ["point", "derivative", "analytic (mpmath)", "custom", "autograd (report's graph)", "finite diff"]
    if with_graph:
        headers.append(f"autograd ({derivative_label or 'graph of f′'})")
    headers += ["custom rel. error", "ok"]
    rows = []
    for point in check.points:
        where = ", ".join(f"{k} = {v:g}" for k, v in point.inputs.items())
        for label, comp in checks.entries(check, point):
            name = checks.entry_label(check, label)
            row = [where, name, comp.analytic, comp.custom, comp.autograd, comp.finite_difference]
            if with_graph:
                row.append(comp.derivative_graph)
            row += [_err(comp.rel_error.get("custom")), "yes" if comp.ok else "**NO**"]
            rows.append(row)
    name = "gradcheck" if check.command == "grad" else "gradgradcheck"
    verdict = {True: "passed", False: "**FAILED**", None: "skipped"}[check.verified]
    return _table(headers, rows) + f"\n`torch.autograd.{name}` (float64): {verdict}.\n"


def _trace_tables(t: trace.Trace, symbol: str) -> str:
    nodes = [[n.name, "input" if n.op == "input" else n.expr, n.value, n.grad] for n in t.nodes]
    edges = [[f"{e.source} → {e.target}", e.local, e.rule, e.upstream, e.downstream] for e in t.edges]
    return (_table(["node", "expression", "value", f"∂{symbol}/∂node"], nodes) + "\n"
            + _table(["edge", "local ∂child/∂parent", "rule", f"upstream ∂{symbol}/∂child",
                      "downstream = upstream × local"], edges))


# ---- the report ---------------------------------------------------------------------------------


def build(config_dir: str | Path | None, out: str | Path) -> Report:
    """Run Part A and Part B with the configs in ``config_dir`` (None: the report's own,
    shipped inside the package); write the report into ``out``."""
    if config_dir is None:
        with resources.as_file(resources.files("backpropcli") / "configs") as shipped:
            return _build(shipped, "the report's own experiment configs (shipped with backprop)", out)
    config_dir = Path(config_dir)
    return _build(config_dir, f"the configs in `{config_dir}/`", out)


def _build(config_dir: Path, source: str, out: str | Path) -> Report:
    missing = [name for name in CONFIG_FILES if not (config_dir / name).is_file()]
    if missing:
        raise ConfigError(f"{config_dir}: missing config file(s) {', '.join(missing)} (see --config-dir)")
    folder = prepare_dir(out)
    files: list[Path] = []
    items: list[Item] = []
    sections: dict = {}
    md: list[str] = ["# An introduction to backpropagation, recomputed\n",
                     f"Every number, table and figure below was computed by `backprop report` from {source}; "
                     "the analytic columns are closed forms evaluated with mpmath at 50 "
                     "digits, the ground truth every other column is measured against.\n"]

    # ---- Part A
    report_cfg = config.load(config.RegressConfig, config_dir / "regress.yaml")
    converged_cfg = config.load(config.RegressConfig, config_dir / "regress-converged.yaml")
    runs = {"report": regression.train(report_cfg), "converged": regression.train(converged_cfg)}
    figures = {}
    for key, result in runs.items():
        figures[key] = [plots.regression_line(result, folder / f"{key}-regression-line.png"),
                        plots.loss_curve(result, folder / f"{key}-regression-loss.png")]
        files += figures[key]
        sections[f"regress_{key}"] = payloads.regression(result, figures[key])
        items.append(Item(f"regression ({key} settings) ran without diverging", not result.diverged,
                          result.verdict))
    items.append(Item("regression with settings that converge does converge", runs["converged"].converged,
                      f"W = {runs['converged'].W:.6g}, b = {runs['converged'].b:.6g}"))
    loss_trace = trace.regression_trace(report_cfg, regression.load_dataset(report_cfg))
    files += _graph_files(loss_trace, folder, "regression-graph", "L")
    items.append(Item("regression trace: each gradient is the sum of its downstream contributions",
                      loss_trace.consistent(1e-5), loss_trace.title))

    md.append("## Part A: linear regression by gradient descent\n")
    md.append("ŷ = W·x + b fitted to x = [1, 2, 3, 4], y = [0, −1, −2, −3] (so y = −x + 1) by the report's loop: "
              "MSE, `backward()`, the update under `torch.no_grad()`, then `grad.zero_()`.\n")
    rows = []
    for label, get in (("learning rate", lambda r: r.config.lr), ("iterations", lambda r: r.iters_run),
                       ("dtype", lambda r: r.config.dtype), ("W (final)", lambda r: r.W),
                       ("b (final)", lambda r: r.b), ("loss (final)", lambda r: r.final_loss),
                       ("least squares W, b", lambda r: f"{r.optimum.W:.6g}, {r.optimum.b:.6g}"),
                       ("distance to optimum", lambda r: r.distance),
                       ("largest stable lr, 2/λmax", lambda r: r.curvature.lr_max),
                       ("steps plain GD needs", lambda r: r.iters_to_converge),
                       ("verdict", lambda r: r.verdict)):
        rows.append([label, get(runs["report"]), get(runs["converged"])])
    md.append(_table(["", "report (`regress.yaml`)", "converges (`regress-converged.yaml`)"], rows))
    md.append("\n| report's settings | settings that converge |\n|---|---|\n"
              f"| ![Figure 1]({figures['report'][0].name}) | ![Figure 1, converged]({figures['converged'][0].name}) |\n"
              f"| ![Figure 2]({figures['report'][1].name}) | ![Figure 2, converged]({figures['converged'][1].name}) |\n")
    md.append("\n### The graph of one iteration's loss\n")
    md.append(f"![regression graph](regression-graph.png)\n\n{_trace_tables(loss_trace, 'L')}")

    # ---- Part B
    md.append("\n## Part B: custom autograd Functions\n")
    md.append("Columns: **analytic** (closed form, mpmath, 50 digits) · **custom** (the `autograd.Function`'s "
              "hand-written backward; for second derivatives, reverse over reverse through it) · **autograd** "
              "(through the report's decomposed graph) · **finite diff** (central difference).\n")
    cfgs = {name: config.load_function(None, config_dir / f"{name}.yaml", {})
            for name in ("sinc", "quad", "softplus")}
    results: dict[str, checks.Check] = {}
    for name, cfg in cfgs.items():
        spec = functions.get(name)
        points = {v: getattr(cfg, v) for v in spec.variables}
        params = {p: getattr(cfg, p) for p in spec.params}
        results[f"grad {name}"] = checks.gradients(spec, points, params, cfg.dtype)
        results[f"hessian {name}"] = checks.hessians(spec, points, params, cfg.dtype)
        sections[f"grad_{name}"] = payloads.check(results[f"grad {name}"], cfg, [])
        sections[f"hessian_{name}"] = payloads.check(results[f"hessian {name}"], cfg, [])
        for kind in ("grad", "hessian"):
            r = results[f"{kind} {name}"]
            items.append(Item(f"{kind} {name}: custom Function agrees with the analytic reference", r.ok,
                              f"{len(r.points)} point(s), rtol {r.rtol:g}"))

    sections_md = {
        "sinc": ("### sin(x)/x (section 3.2, Figure 4)\n", "Figure 4"),
        "quad": ("### a·x² + b·x·y + c·y² (section 3.3, Figure 5)\n", "Figure 5"),
        "softplus": ("### ln(1 + eˣ) (section 3.4, Figures 6 and 7)\n", "Figure 6"),
    }
    for name, (heading, figure) in sections_md.items():
        spec = functions.get(name)
        cfg = cfgs[name]
        first = {v: getattr(cfg, v)[0] for v in spec.variables}
        params = {p: getattr(cfg, p) for p in spec.params}
        md.append(heading)
        md.append(f"f = {spec.formulas.f}; f′ = {spec.formulas.df}; f″ = {spec.formulas.d2f}\n")
        md.append("**First derivative**\n\n" + _check_table(results[f"grad {name}"]))
        md.append("\n**Second derivative**\n\n" + _check_table(results[f"hessian {name}"],
                                                              spec.derivative_graph_title))
        graphs = [(trace.function_trace(spec, first, params), f"{name}-graph", "f", figure)]
        if name == "softplus":
            graphs.append((trace.function_trace(spec, first, params, derivative=True), f"{name}-derivative-graph",
                           "f′", "Figure 7"))
        for traced, stem, symbol, title in graphs:
            files += _graph_files(traced, folder, stem, symbol)
            items.append(Item(f"{title} trace ({name}): the chain rule adds up", traced.consistent(),
                              traced.title))
            md.append(f"\n**{title}**: {traced.title}\n\n![{title}]({stem}.png)\n\n{_trace_tables(traced, symbol)}")

    # ---- corrections, decided from the numbers
    md.append("\n## Where the report needs correcting\n")
    corrections, singular_items = _corrections(runs, converged_cfg)
    items += singular_items
    md.append("\n".join(f"{i}. {text}" for i, text in enumerate(corrections, start=1)) + "\n")

    md.append("\n## Summary of the checks\n")
    md.append(_table(["check", "result", "detail"], [[i.name, "ok" if i.ok else "**FAILED**", i.detail]
                                                    for i in items]))
    text = "\n".join(md)
    markdown = write_text(folder / "report.md", text)
    html = write_text(folder / "report.html", to_html(text, folder))
    files += [markdown, html]
    return Report(folder, markdown, html, files, items, sections)


def _graph_files(traced: trace.Trace, folder: Path, stem: str, symbol: str) -> list[Path]:
    return [plots.graph_picture(traced, folder / f"{stem}.png", symbol),
            write_text(folder / f"{stem}.dot", plots.dot_text(traced, symbol))]


def _corrections(runs: dict, converged_cfg) -> tuple[list[str], list[Item]]:
    texts, items = [], []
    r = runs["report"]
    if not r.converged:
        needed = ("never at this learning rate" if r.iters_to_converge is None
                  else f"{r.iters_to_converge} iterations at this learning rate")
        texts.append(
            f"**The regression has not converged.** The report says the model \"successfully converges\" to "
            f"y = −x + 1. After {r.iters_run} iterations at lr {r.config.lr:g}, W = {r.W:.6g} and b = {r.b:.6g} "
            f"(least squares: {r.optimum.W:.6g}, {r.optimum.b:.6g}; distance {r.distance:.4g}; loss "
            f"{r.final_loss:.6g}). Plain gradient descent needs {needed} to come within "
            f"{r.config.tol:g}·|optimum|: the slow direction of the MSE's Hessian (λmin = "
            f"{r.curvature.lambda_min:.4g}) contracts the error only by 1 − lr·λmin = "
            f"{1 - r.config.lr * r.curvature.lambda_min:.6g} per step. Any lr below 2/λmax = "
            f"{r.curvature.lr_max:.6g} is stable; with lr {converged_cfg.lr:g} it converges in "
            f"{runs['converged'].iters_to_converge} steps (`regress-converged.yaml`).")
    else:
        texts.append(f"The regression did converge with these settings (W = {r.W:.6g}, b = {r.b:.6g}).")

    for name, xs in SINGULAR.items():
        spec = functions.get(name)
        g = checks.gradients(spec, {"x": xs}, {})
        h = checks.hessians(spec, {"x": xs}, {})
        for gp, hp in zip(g.points, h.points):
            x = gp.inputs["x"]
            comp, second = gp.gradients["x"], hp.hessian[0][0]
            broke = not (math.isfinite(gp.value_graph) and math.isfinite(comp.autograd))
            custom_ok = gp.ok and hp.ok
            items.append(Item(f"{name} at x = {x:g}: the custom Function is finite and right", custom_ok,
                              f"f = {gp.value + 0.0:.6g}, f′ = {comp.custom + 0.0:.6g}, f″ = {second.custom + 0.0:.6g}"))
            if broke:
                texts.append(
                    f"**{name} at x = {x:g}: the report's graph breaks.** Its forward value is {gp.value_graph} and "
                    f"its autograd gradient {comp.autograd} (second derivative {second.autograd}). The custom "
                    f"Function gives f = {gp.value + 0.0!r}, f′ = {comp.custom + 0.0!r}, "
                    f"f″ = {second.custom + 0.0!r}; the analytic values are {gp.value_analytic + 0.0!r}, "
                    f"{comp.analytic + 0.0!r}, {second.analytic + 0.0!r}.")
    return texts, items


HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>backprop report</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; line-height: 1.5; color: #1f2933; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }}
th, td {{ border: 1px solid #cbd2d9; padding: 0.3em 0.6em; text-align: right; }}
th {{ background: #f0f4f8; }} td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; }} code {{ background: #f0f4f8; padding: 0 0.2em; }}
</style></head><body>
{body}
</body></html>
"""


def to_html(markdown: str, folder: Path) -> str:
    """The Markdown as one self-contained page: images embedded as data URIs."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)

    def embed(match: re.Match) -> str:
        data = (folder / match.group(1)).read_bytes()
        return f'src="data:image/png;base64,{base64.b64encode(data).decode()}"'

    return HTML_PAGE.format(body=re.sub(r'src="([^"/]+\.png)"', embed, body))
