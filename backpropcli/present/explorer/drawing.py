"""The explorer's graph as inline SVG, in the PNG picture's layout and at its scale.

One layout unit is INCH_PER_UNIT inches, as in the picture; fonts are given in points and
converted to units, so a box reads as the picture's box. The layout's y axis runs up, SVG's
down: every y is negated. Elements that belong to a step carry ``data-step`` (see markup.py).
"""

from __future__ import annotations

import math
from html import escape

from backpropcli.core.layout import INCH_PER_UNIT, EdgePlace, label_box
from backpropcli.present.explorer.model import EdgeView, Explorer, NodeView
from backpropcli.present.figures.common import EDGE_COLOR, GRAD_COLOR, VALUE_COLOR
from backpropcli.present.fmt import coordinate, partial

PX_PER_UNIT = INCH_PER_UNIT * 96  # CSS pixels per layout unit: the PNG's scale at 96 dpi
PAD = 0.04  # the picture's box pad (FancyBboxPatch pad)
MIN_TEXT_PX = 10  # the smallest text the page may shrink the graph to

Note = tuple[int, str]  # (step, kind): a mark shown on a node or an edge from that step on


def pt(size: float) -> float:
    """A font size in points as layout units."""
    return round(size / 72 / INCH_PER_UNIT, 4)


def num(value: float) -> str:
    """A coordinate, to 1/10 000 of a unit (a 1/700 of a pixel: exact enough, short)."""
    return coordinate(value)


def attrs(**values) -> str:
    """Attributes from keywords (class_ -> class, data_step -> data-step); None is left out."""
    return "".join(f' {key.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
                   for key, value in values.items() if value is not None)


def text(x: float, y: float, body: str, cls: str, size: float, step: int | None = None) -> str:
    """A line of text centred at layout (x, y)."""
    return f"<text{attrs(class_=cls, x=num(x), y=num(-y), font_size=pt(size), data_step=step)}>{escape(body)}</text>"


def rect(box: tuple[float, float, float, float], cls: str, step: int | None = None, rx: float = 0.12,
         grow: float = 0.0) -> str:
    """A rounded rectangle over the layout box (x0, y0, x1, y1), grown by ``grow`` on every side."""
    x0, y0, x1, y1 = box
    return (f"<rect{attrs(class_=cls, x=num(x0 - grow), y=num(-y1 - grow), width=num(x1 - x0 + 2 * grow))}"
            f"{attrs(height=num(y1 - y0 + 2 * grow), rx=num(rx + grow), data_step=step)}/>")


def node_svg(node: NodeView, box: tuple[float, float, float, float], symbol: str, notes: list[Note]) -> str:
    """A box as in the picture: name and expression, operation, value (black), gradient (red).
    Where nan or an infinity is born, or a student's gradient is wrong, the box gets a coloured
    ring and its operation line a short note, from that step on."""
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    padded = (box[0] - PAD, box[1] - PAD, box[2] + PAD, box[3] + PAD)
    kind = "output" if node.output else ("input" if node.op == "input" else "op")
    wrong = node.student is not None and node.student.wrong and node.backward is not None
    shown = [(step, f"born {what}", f" · {what} born") for step, what in notes]
    if wrong and node.backward is not None:
        shown.append((node.backward, "yours wrong", " · yours ✗"))
    # a note is a tspan that takes no room before its step (display: none), so the line stays centred
    op = escape(node.op) + "".join(f'<tspan class="{cls}" data-step="{step}">{escape(note)}</tspan>'
                                   for step, cls, note in shown)
    parts = [f'<g class="node {kind}{" wrong" if wrong else ""}"{attrs(data_node=node.name)} tabindex="0" '
             f'role="button"{attrs(aria_label=node.title)}>', rect(padded, "box", node.forward),
             text(x, y + 0.45, node.title, "title", 10),
             f'<text class="opname" x="{num(x)}" y="{num(-y - 0.14)}" font-size="{pt(8)}">{op}</text>',
             text(x, y - 0.15, f"value {node.value_box}", "value", 9, node.forward)]
    if node.grad_box is None:
        parts.append(text(x, y - 0.45, "no gradient (data)", "nograd", 9, node.forward))
    else:
        parts.append(text(x, y - 0.45, f"{partial(symbol, node.name)} {node.grad_box}", "grad", 9, node.backward))
        parts.append(rect(padded, "ring", node.backward))
    parts += [rect(padded, f"mark {cls.split()[-1]}", step, grow=0.07) for step, cls, _ in shown]
    return "".join(parts) + "</g>"


def arc(start: tuple[float, float], end: tuple[float, float], rad: float = -0.3) -> str:
    """The picture's skip connection, matplotlib's arc3: a quadratic Bézier whose control point
    is the chord's midpoint moved by rad × the chord turned a quarter turn."""
    (x1, y1), (x2, y2) = start, end
    cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
    return f"M{num(x1)},{num(-y1)} Q{num(cx)},{num(-cy)} {num(x2)},{num(-y2)}"


def edge_svg(edge: EdgeView, place: EdgePlace, forward_step: int, notes: list[Note]) -> str:
    """An arrow with its local gradient on it. Drawn over it, shown only at their step: the
    value flowing in (black, the child's forward step) and the gradient flowing back (red, the
    child's backward step); a ring round the label where a nan or an infinity is born on it."""
    (x1, y1), (x2, y2) = place.start, place.end
    d = arc(place.start, place.end) if place.arc else f"M{num(x1)},{num(-y1)} L{num(x2)},{num(-y2)}"
    box = label_box(*place.label, edge.label)
    inner = (box[0] + 0.06, box[1] + 0.06, box[2] - 0.06, box[3] - 0.06)
    data = edge.local is None
    parts = [f'<g class="edge{" data" if data else ""}"{attrs(data_source=edge.source, data_target=edge.target)}>',
             f'<path class="line" d="{d}" marker-end="url(#arrow)"/>',
             f'<path class="flow forward" d="{d}" data-step="{forward_step}" marker-end="url(#arrow-v)"/>']
    if not data:
        parts.append(f'<path class="flow backward" d="{d}" data-step="{edge.step}" marker-end="url(#arrow-g)"/>')
    parts += [f'<g class="label" data-step="{edge.step}">', rect(inner, "bg", rx=0.06),
              text(*place.label, edge.label, "local", 9)]
    parts += [rect(box, f"mark {kind}", step, rx=0.1) for step, kind in reversed(notes)]  # nan on top
    parts.append("</g>")
    if not data:  # at its step only: the downstream it carries back, under the label, in red
        down = f"↓ {edge.downstream_box}"
        lx, ly = place.label[0], place.label[1] - 0.27
        under = label_box(lx, ly, down)
        parts += [f'<g class="down" data-step="{edge.step}">', rect((under[0] + 0.06, under[1] + 0.06,
                  under[2] - 0.06, under[3] - 0.06), "bg", rx=0.06), text(lx, ly, down, "downstream", 9), "</g>"]
    parts.append(f"<title>{escape(_tooltip(edge))}</title>")
    return "".join(parts) + "</g>"


def _tooltip(edge: EdgeView) -> str:
    """The edge in words, for a pointer that rests on it."""
    if edge.local is None:
        return f"{edge.source} → {edge.target}: data, no gradient flows"
    if edge.vjp:
        return (f"{edge.source} → {edge.target}: downstream = Jᵀ·upstream, the vector–Jacobian product of "
                f"{edge.target}'s op = {edge.downstream} (step {edge.step}); Jᵀ·1 = {edge.local}")
    return (f"{edge.source} → {edge.target}: local ∂{edge.target}/∂{edge.source} = {edge.rule} = {edge.local}; "
            f"downstream = upstream × local = {edge.upstream} × {edge.local} = {edge.downstream} (step {edge.step})")


def _notes(explorer: Explorer) -> tuple[dict[str, list[Note]], dict[int, list[Note]]]:
    """Where each nan or infinity is born: on a node (its first birth of each kind) or an edge."""
    on_nodes: dict[str, list[Note]] = {}
    on_edges: dict[int, list[Note]] = {}
    for step, mark in explorer.marks():
        if mark.edge is not None:
            on_edges.setdefault(mark.edge, []).append((step, mark.kind))
        elif mark.node is not None and mark.kind != "wrong":
            seen = on_nodes.setdefault(mark.node, [])
            if mark.kind not in {kind for _, kind in seen}:
                seen.append((step, mark.kind))
    return on_nodes, on_edges


def svg(explorer: Explorer) -> str:
    """The whole graph: arrowheads, edges under the boxes, the boxes."""
    placed = explorer.layout
    lo_x, lo_y, hi_x, hi_y = placed.bounds
    w, h = hi_x - lo_x, hi_y - lo_y
    markers = "".join(
        f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="0.2" '
        f'markerHeight="0.2" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
        for name, color in (("arrow", EDGE_COLOR), ("arrow-v", VALUE_COLOR), ("arrow-g", GRAD_COLOR)))
    on_nodes, on_edges = _notes(explorer)
    forward = {n.name: n.forward for n in explorer.nodes}
    edges = [edge_svg(e, place, forward[e.target], on_edges.get(i, []))
             for i, (e, place) in enumerate(zip(explorer.edges, placed.edges))]
    nodes = [node_svg(n, placed.boxes[n.name], explorer.symbol, on_nodes.get(n.name, [])) for n in explorer.nodes]
    # as wide as the page, but never so narrow that its smallest text (8 pt at the picture's scale)
    # falls under MIN_TEXT_PX: a wide graph (manual's 23 nodes) scrolls sideways instead, following
    # the step's node (explorer.js)
    width = round(w * PX_PER_UNIT)
    legible = min(width, math.ceil(width * MIN_TEXT_PX / (8 / 72 * 96)))
    return (f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" viewBox="{num(lo_x)} {num(-hi_y)} {num(w)} {num(h)}"'
            f' width="{width}" height="{round(h * PX_PER_UNIT)}" style="min-width: {legible}px" role="img"'
            f"{attrs(aria_label=explorer.title)}><defs>{markers}</defs>{''.join(edges)}{''.join(nodes)}</svg>")
