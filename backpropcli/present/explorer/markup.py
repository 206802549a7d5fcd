"""The explorer as one self-contained HTML page: inline SVG, tables, CSS, JavaScript and data.

Python writes every element of the page (the graph as SVG in the picture's layout, the
trace tables, the controls); each element that belongs to a step carries ``data-step``,
the step at which it appears. The script (explorer.js, inlined) only moves between
steps: it marks each such element "future" or "now", and writes the step's and the
selected node's explanation from the embedded JSON. Without JavaScript the page shows
every number at once. A Content-Security-Policy forbids every fetch: nothing leaves the page.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from html import escape
from importlib import resources

from backpropcli.present.explorer.drawing import PX_PER_UNIT, attrs, svg
from backpropcli.present.explorer.model import Explorer, Mark
from backpropcli.present.figures.common import EDGE_COLOR, EDGE_TEXT, GRAD_COLOR, VALUE_COLOR
from backpropcli.present.fmt import partial

MARK_NAMES = {"nan": "nan born", "inf": "inf born", "wrong": "wrong gradient"}
WIDE_PX = 760  # a graph wider than this (CSS pixels at the picture's scale) takes the page's width
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _cell(body: str, cls: str = "", step: int | None = None) -> str:
    return f"<td{attrs(class_=cls or None, data_step=step)}>{escape(body)}</td>"


def tables(explorer: Explorer) -> str:
    """The trace as the terminal's --trace prints it, filled in step by step."""
    d, students = partial(explorer.symbol, "node"), any(n.student is not None for n in explorer.nodes)
    head = ["node", "expression", "value", d, "= sum over outgoing edges"] + (["yours"] if students else [])
    rows = []
    for n in explorer.nodes:
        how = ("the output" if n.output else "data: no gradient" if n.grad is None
               else " + ".join(f"{t.downstream} via {t.via}" for t in n.terms) or "does not reach the output")
        known = n.forward if n.backward is None else n.backward  # data: its "no gradient" is known at once
        row = [_cell(n.name, "name"), _cell("input" if n.op == "input" else n.title.split(" = ", 1)[1]),
               _cell(n.value, "value num", n.forward), _cell(n.grad or "-", "grad num", known),
               _cell(how, "how", known)]
        if students:
            wrong = n.student is not None and n.student.wrong
            mark = "" if n.student is None else (" ✗ wrong" if wrong else " ✓")
            row.append(_cell("" if n.student is None else f"{n.student_grad}{mark}",
                             "yours num" + (" wrong" if wrong else ""), n.backward))
        rows.append(f"<tr{attrs(data_node=n.name)}>" + "".join(row) + "</tr>")
    node_table = _table("nodes: forward values (black) and gradients (red)", head, rows)
    rows = [f"<tr{attrs(data_target=e.target)}>" + _cell(f"{e.source} → {e.target}", "name")
            + _cell(e.local or "-", "num", e.step) + _cell(e.rule, "", e.step)
            + _cell(e.upstream, "grad num", e.step) + _cell(e.downstream or "-", "grad num", e.step) + "</tr>"
            for e in explorer.edges]
    upstream = partial(explorer.symbol, "child")
    if any(e.vjp for e in explorer.edges):  # tensor ops (manual): no elementwise product gives downstream
        caption = (f"edges parent → child: downstream = Jᵀ·upstream, the vector–Jacobian product of the "
                   f"child's op (local = Jᵀ·1; upstream = {upstream})")
    else:
        caption = f"edges parent → child: downstream = upstream × local (local = ∂child/∂parent, upstream = {upstream})"
    edge_table = _table(caption,
                        ["edge", "local", "rule", "upstream", "downstream"], rows)
    return node_table + edge_table


def _table(caption: str, head: list[str], rows: list[str]) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (f"<table><caption>{escape(caption)}</caption><thead><tr>{header}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def data(explorer: Explorer) -> dict:
    """What the script needs: each step's explanation and each node's chain rule, as text."""
    symbol = explorer.symbol
    nodes = {}
    for n in explorer.nodes:
        entry = asdict(n)
        entry["d"] = partial(symbol, n.name)
        for term in entry["terms"]:
            term["d_via"], term["d_local"] = partial(symbol, term["via"]), f"∂{term['via']}/∂{n.name}"
        nodes[n.name] = entry
    return {"title": explorer.title, "symbol": symbol, "dtype": explorer.dtype,
            "steps": [asdict(s) for s in explorer.steps], "nodes": nodes}


def _controls(explorer: Explorer) -> str:
    last = len(explorer.steps) - 1
    by_step: dict[int, list[Mark]] = {}
    for i, mark in explorer.marks():
        by_step.setdefault(i, []).append(mark)
    # one link per marked step, "step 7: nan born, inf born", coloured by its first (most telling) mark
    links = "".join(f'<a class="jump {marks[0].kind}" href="#step={i}"{attrs(title=" · ".join(m.text for m in marks))}>'
                    f'step {i}: {escape(", ".join(dict.fromkeys(MARK_NAMES[m.kind] for m in marks)))}</a>'
                    for i, marks in by_step.items())
    return (f'<nav id="controls" aria-label="steps">'
            f'<button id="first" title="the first step (Home)">first</button>'
            f'<button id="prev" title="the previous step (←)">← back</button>'
            f'<button id="next" title="the next step (→)">next →</button>'
            f'<button id="last" title="the last step (End)">last</button>'
            f'<input id="slider" type="range" min="0" max="{last}" value="0" aria-label="step">'
            f'<output id="counter">step 0 of {last}</output>{links}</nav>')


def render(explorer: Explorer) -> str:
    """The whole page."""
    folder = resources.files("backpropcli.present.explorer")
    css = (folder / "explorer.css").read_text(encoding="utf-8")
    css = css.replace("VALUE_COLOR", VALUE_COLOR).replace("GRAD_COLOR", GRAD_COLOR)
    css = css.replace("EDGE_COLOR", EDGE_COLOR).replace("EDGE_TEXT", EDGE_TEXT)
    script = (folder / "explorer.js").read_text(encoding="utf-8")
    # "<" escaped in the JSON: no "</script>" or "<!--" in the data can end or confuse the element
    payload = json.dumps(data(explorer), ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")
    direction = "top to bottom" if explorer.layout.vertical else "left to right"
    unused = (f" · not drawn: {', '.join(explorer.unused)} ({explorer.symbol} does not depend on it)"
              if explorer.unused else "")
    legend = (f"forward pass {direction} · <span class=v>black: value</span> · <span class=g>red: gradient "
              f"{escape(partial(explorer.symbol, 'node'))}</span> · on arrows: local gradient ∂child/∂parent"
              f"{escape(unused)} · click a node for its chain rule · keys ← → Home End")
    lo_x, _, hi_x, _ = explorer.layout.bounds
    # a wide graph (Figure 5) gets the page's width, the panels go below it; else they sit beside it
    arrangement = "wide" if (hi_x - lo_x) * PX_PER_UNIT > WIDE_PX else "beside"
    return PAGE.format(title=escape(explorer.title), csp=CSP, css=css, controls=_controls(explorer),
                       arrangement=arrangement,
                       svg=svg(explorer), legend=legend, tables=tables(explorer), data=payload, script=script)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>
{css}</style></head>
<body data-step="0">
<header><h1>{title}</h1>
<p class="legend">{legend}</p>
<noscript><p class="legend">JavaScript is off: every step is shown at once.</p></noscript></header>
{controls}
<main class="{arrangement}">
<div id="figure">{svg}</div>
<div id="panels">
<section id="step-panel" aria-live="polite"><h2 id="step-heading"></h2><div id="step-lines"></div></section>
<section id="node-panel"><h2 id="node-heading"></h2><div id="node-lines"></div></section>
</div>
<div id="trace">{tables}</div>
</main>
<script type="application/json" id="explorer-data">{data}</script>
<script>
{script}</script>
</body></html>
"""
