"""Pictures of a traced graph (the report's Figures 3-7) and its Graphviz DOT text."""

from __future__ import annotations

from pathlib import Path

from backpropcli.core import layout as layouts
from backpropcli.present.figures.common import EDGE_COLOR, EDGE_TEXT, GRAD_COLOR, VALUE_COLOR, pyplot, save
from backpropcli.present.fmt import compact, partial
from backpropcli.present.tables import trace_title


def _draw_nodes(ax, trace, pos, width: float, height: float, grad_label) -> None:
    """Each node as a box: name and expression, operation, value (black) and gradient (red)."""
    from matplotlib.patches import FancyBboxPatch

    for node in trace.nodes:
        x, y = pos[node.name]
        is_output = node.name == trace.output
        ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                    boxstyle="round,pad=0.04,rounding_size=0.12",
                                    fc="#fdf2e9" if is_output else ("#eef5fb" if node.op != "input" else "#f4f6f6"),
                                    ec="#34495e", lw=1.4 if is_output else 1.0, zorder=2))
        title = node.name if node.op == "input" else f"{node.name} = {node.expr}"
        ax.text(x, y + 0.45, title, ha="center", va="center", fontsize=10, fontweight="bold", color=VALUE_COLOR,
                zorder=3)
        ax.text(x, y + 0.14, node.op, ha="center", va="center", fontsize=8, style="italic", color="#566573",
                zorder=3)
        ax.text(x, y - 0.15, f"value {compact(node.value)}", ha="center", va="center", fontsize=9,
                color=VALUE_COLOR, zorder=3)
        ax.text(x, y - 0.45, grad_label(node), ha="center", va="center", fontsize=9,
                color=GRAD_COLOR if node.grad is not None else "#95a5a6", fontweight="bold", zorder=3)



def _grad_label(node, symbol: str) -> str:
    return "no gradient (data)" if node.grad is None else f"{partial(symbol, node.name)} {compact(node.grad)}"


def edge_label(edge) -> str:
    """The text on an arrow: its local gradient, or "data" where no gradient flows."""
    return "data" if edge.local is None else f"local {compact(edge.local)}"


def drawn(trace, symbol: str):
    """What a picture draws: the trace without the nodes no edge touches (c in the graph of
    ∂f/∂x = 2ax + by, named below the picture instead), those names, and the layout of the
    rest (box size from the longest label). DOT and the explorer follow the same layout."""
    linked = {e.source for e in trace.edges} | {e.target for e in trace.edges}
    unused = [n.name for n in trace.nodes if n.name not in linked and len(trace.nodes) > 1]
    if unused:
        from dataclasses import replace

        trace = replace(trace, nodes=[n for n in trace.nodes if n.name in linked])
    longest = max(len(text) for n in trace.nodes for text in (f"value {compact(n.value)}", _grad_label(n, symbol),
                                                               f"{n.name} = {n.expr}"))
    width, height = max(2.3, 0.15 * longest + 0.4), 1.45
    placed = layouts.layout([n.name for n in trace.nodes], [(e.source, e.target, edge_label(e)) for e in trace.edges],
                            width, height, len(trace_title(trace)))
    return trace, unused, placed


def _canvas(placed: layouts.Layout):
    """The figure and its axes, sized so one layout unit is INCH_PER_UNIT inches."""
    plt = pyplot()
    lo_x, lo_y, hi_x, hi_y = placed.bounds
    fig_h = layouts.INCH_PER_UNIT * (hi_y - lo_y) + 0.9
    fig = plt.figure(figsize=(layouts.INCH_PER_UNIT * (hi_x - lo_x), fig_h))
    ax = fig.add_axes((0, 0.45 / fig_h, 1, (fig_h - 0.9) / fig_h))
    ax.set_xlim(lo_x, hi_x)
    ax.set_ylim(lo_y, hi_y)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax, fig_h


def _draw_edges(ax, trace, placed: layouts.Layout) -> None:
    """Arrows with their local gradient on them; a skip connection arcs beside the boxes between."""
    for e, place in zip(trace.edges, placed.edges):
        arrow = dict(arrowstyle="-|>", color=EDGE_COLOR, lw=1.4, shrinkA=2, shrinkB=2)
        if place.arc:  # v1 -> v4 in Figure 7
            arrow["connectionstyle"] = "arc3,rad=-0.3"
        ax.annotate("", xy=place.end, xytext=place.start, arrowprops=arrow, zorder=1)
        ax.text(*place.label, edge_label(e), fontsize=layouts.LABEL_FONT, color=EDGE_TEXT, ha="center",
                va="center", zorder=4, bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=EDGE_COLOR, lw=0.6))


def graph_picture(trace, path: Path, symbol: str = "f") -> Path:
    """The traced graph in the direction of the forward pass (left to right, or top to bottom
    when that is closer to square): each box shows the node, its operation and value (black)
    and its gradient (red); each arrow carries its local gradient."""

    def grad_label(node):
        return _grad_label(node, symbol)

    trace, unused, placed = drawn(trace, symbol)
    fig, ax, fig_h = _canvas(placed)
    _draw_edges(ax, trace, placed)
    _draw_nodes(ax, trace, placed.positions, placed.width, placed.height, grad_label)
    fig.text(0.5, 1 - 0.15 / fig_h, trace_title(trace), ha="center", va="top", fontsize=11, wrap=True)
    direction = "top to bottom" if placed.vertical else "left to right"
    note = f" · not drawn: {', '.join(unused)} ({symbol} does not depend on it)" if unused else ""
    fig.text(0.5, 0.1 / fig_h, f"forward pass {direction} · black: value · red: gradient {partial(symbol, 'node')}"
             f" · on arrows: local gradient ∂child/∂parent{note}", ha="center", va="bottom", fontsize=8.5,
             color="#566573", wrap=True)
    return save(fig, path)


def dot_text(trace, symbol: str = "f") -> str:
    """The same graph as Graphviz DOT, for those who have Graphviz (dot -Tpng)."""

    def quote(text: str) -> str:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'

    vertical = drawn(trace, symbol)[-1].vertical
    lines = ["digraph backprop {", f"  rankdir={'TB' if vertical else 'LR'};",
             '  node [shape=box, style="rounded", fontname="Helvetica"];',
             f"  label={quote(trace_title(trace))};"]
    for node in trace.nodes:
        title = node.name if node.op == "input" else f"{node.name} = {node.expr}"
        label = f"{title}\n{node.op}\nvalue {compact(node.value)}\n{partial(symbol, node.name)} {compact(node.grad)}"
        lines.append(f"  {quote(node.name)} [label={quote(label)}];")
    for e in trace.edges:
        label = edge_label(e)
        lines.append(f"  {quote(e.source)} -> {quote(e.target)} [label={quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _gate_arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str) -> None:
    """One arrow of Figure 3: a value going forward or a gradient coming back."""
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(start, end, color=color, arrowstyle="-|>", lw=1.8, mutation_scale=16))


def gate_picture(trace, name: str, path: Path, symbol: str = "f", where: str = "") -> Path:
    """Figure 3 of the report, from a real node of a real run: one gate, its inputs on the
    left and its output on the right; the forward values run left to right above, the
    gradients right to left below: downstream = upstream × local on every input."""
    from matplotlib.patches import FancyBboxPatch

    plt = pyplot()
    node = next(n for n in trace.nodes if n.name == name)
    incoming = [e for e in trace.edges if e.target == name]
    rows = max(1, len(incoming))
    fig_h = 2.6 + 2.1 * rows
    fig, ax = plt.subplots(figsize=(12, fig_h))
    ax.set_xlim(0, 12)
    ax.set_ylim(0, fig_h)
    ax.axis("off")
    mid = fig_h / 2 - 0.2
    gate_h = 1.2 + 2.1 * (rows - 1)
    ax.add_patch(FancyBboxPatch((5.4, mid - gate_h / 2), 2.2, gate_h, boxstyle="round,pad=0.05,rounding_size=0.25",
                                fc="#eef5fb", ec="#34495e", lw=1.5))
    ax.text(6.5, mid + 0.2, f"{node.name} = {node.expr}", ha="center", va="center", fontsize=12, fontweight="bold")
    ax.text(6.5, mid - 0.25, node.op, ha="center", va="center", fontsize=10, style="italic", color="#566573")
    # the output: forward value out (black, above), upstream gradient in (red, below)
    _gate_arrow(ax, (7.65, mid + 0.3), (10.0, mid + 0.3), VALUE_COLOR)
    ax.text(8.8, mid + 0.55, f"{node.name} = {compact(node.value)}", ha="center", fontsize=11, color=VALUE_COLOR)
    _gate_arrow(ax, (10.0, mid - 0.3), (7.65, mid - 0.3), GRAD_COLOR)
    ax.text(8.8, mid - 0.75, f"upstream {partial(symbol, node.name)}\n= {compact(node.grad)}", ha="center",
            va="center", fontsize=11, color=GRAD_COLOR, fontweight="bold")
    for k, e in enumerate(incoming):
        y = mid + (rows - 1) * 1.05 - 2.1 * k
        parent = next(n for n in trace.nodes if n.name == e.source)
        _gate_arrow(ax, (3.0, y + 0.3), (5.35, y + 0.3), VALUE_COLOR)
        ax.text(4.15, y + 0.55, f"{e.source} = {compact(parent.value)}", ha="center", fontsize=11, color=VALUE_COLOR)
        if e.local is None:
            ax.text(4.15, y - 0.3, "data: no gradient", ha="center", fontsize=10, color="#95a5a6")
            continue
        _gate_arrow(ax, (5.35, y - 0.3), (3.0, y - 0.3), GRAD_COLOR)
        ax.text(4.15, y - 0.75, f"downstream {partial(symbol, e.source)}\n= {compact(e.downstream)}",
                ha="center", va="center", fontsize=11, color=GRAD_COLOR, fontweight="bold")
        ax.text(0.1, y, f"local ∂{node.name}/∂{e.source}\n= {e.rule} = {compact(e.local)}\n"
                f"downstream = upstream × local\n= {compact(e.upstream)} × {compact(e.local)}", ha="left",
                va="center", fontsize=9.5,
                color="#2c3e50", bbox=dict(boxstyle="round,pad=0.3", fc="#fdf2e9", ec="#e0c9b5"))
    ax.text(6, fig_h - 0.35, f"Figure 3: one gate: downstream = upstream × local\n{where}", ha="center", va="top",
            fontsize=12)
    ax.text(6, 0.15, f"forward: values left to right (black) · backward: gradients right to left (red) · "
            f"node {node.name} of this run's graph", ha="center", va="bottom", fontsize=9, color="#566573")
    return save(fig, path)
