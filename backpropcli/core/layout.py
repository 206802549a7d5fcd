"""Where a traced graph's boxes, arrows and labels go: computed once, drawn by anyone.

The PNG pictures (matplotlib) and the explorer page (SVG) draw the same `Layout`,
so a student who reads one reads the other. Units are abstract layout units;
one unit is INCH_PER_UNIT inches in the PNG. Nothing here draws or formats a number:
the caller passes the box size (from its longest label) and each edge's label text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LABEL_FONT = 9  # points; a character is about 0.6 of that wide
INCH_PER_UNIT = 0.72  # the drawing's scale: one layout unit in inches

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1)
XY = tuple[float, float]


@dataclass(frozen=True)
class EdgePlace:
    source: str
    target: str
    start: XY  # where the arrow leaves the source's box
    end: XY  # where it enters the target's
    label: XY  # the centre of its label
    arc: bool  # a skip connection drawn as an arc beside the boxes between (v1 -> v4 in Figure 7)


@dataclass(frozen=True)
class Layout:
    positions: dict[str, XY]  # box centres
    boxes: dict[str, Box]
    edges: list[EdgePlace]
    width: float  # of every box
    height: float
    vertical: bool  # the forward pass runs top to bottom (else left to right)
    bounds: Box  # the drawing's extent, with room for arcs and the title
    title_room: float = field(default=0.9 / INCH_PER_UNIT)  # above the drawing, for the title


def layered(nodes: list[str], edges: list[tuple[str, str]], dx: float, dy: float) -> dict[str, XY]:
    """Left-to-right layered layout: a node's layer is its longest path from an input
    (networkx's topological order); an input sits just before its first consumer, so
    parameters do not stretch across the picture; within a layer, nodes are ordered by
    the mean height of their neighbours (barycentre sweeps) to keep edges from crossing."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    layer: dict[str, int] = {}
    for name in nx.topological_sort(g):
        preds = list(g.predecessors(name))
        layer[name] = 1 + max(layer[p] for p in preds) if preds else 0
    for name in g.nodes:
        succs = list(g.successors(name))
        if not list(g.predecessors(name)) and succs:
            layer[name] = min(layer[c] for c in succs) - 1
    layers: dict[int, list[str]] = {}
    for name in nodes:
        layers.setdefault(layer[name], []).append(name)
    low = min(layers)
    order = {d - low: names for d, names in sorted(layers.items())}

    def place() -> dict[str, float]:
        return {name: (len(names) - 1) / 2 - i for names in order.values() for i, name in enumerate(names)}

    def centre(name: str, height: dict[str, float]) -> float:
        around = list(g.predecessors(name)) + list(g.successors(name))
        return sum(height[a] for a in around) / len(around) if around else height[name]

    for _ in range(4):
        for sweep in (sorted(order), sorted(order, reverse=True)):
            for d in sweep:
                height = place()
                order[d] = sorted(order[d], key=lambda name: -centre(name, height))
    height = place()
    return {name: (d * dx, height[name] * dy) for d, names in order.items() for name in names}


def orient(nodes: list[str], edges: list[tuple[str, str]], width: float, height: float) -> tuple[dict[str, XY], bool]:
    """Positions of the boxes, and whether the forward pass runs top to bottom: the direction
    whose picture is closer to square (a long chain runs top to bottom)."""
    grid = layered(nodes, edges, 1.0, 1.0)  # (layer, rank)
    n_layers = len({p[0] for p in grid.values()})
    widest = max(sum(1 for q in grid.values() if q[0] == p[0]) for p in grid.values())

    def stretch(w: float, h: float) -> float:
        return max(w, h) / min(w, h)

    vertical = stretch(widest * (width + 1.6), n_layers * (height + 1.3)) < stretch(
        n_layers * (width + 2.4), widest * 1.9 + 0.5)
    if vertical:
        return {name: (-rank * (width + 1.6), -layer * (height + 1.3)) for name, (layer, rank) in grid.items()}, True
    return {name: (layer * (width + 2.4), rank * 1.9) for name, (layer, rank) in grid.items()}, False


def crosses(start: XY, end: XY, boxes: list[Box]) -> bool:
    """Does the straight segment start-end pass through any of the boxes?"""
    for k in range(1, 40):
        t = k / 40
        x, y = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
        if any(x0 < x < x1 and y0 < y < y1 for x0, y0, x1, y1 in boxes):
            return True
    return False


def label_box(x: float, y: float, text: str) -> Box:
    """The box a label of `text` centred at (x, y) covers, in layout units (with a margin)."""
    half_w = (0.6 * LABEL_FONT / 72 * len(text)) / INCH_PER_UNIT / 2 + 0.12
    half_h = (LABEL_FONT / 72) / INCH_PER_UNIT / 2 + 0.1
    return (x - half_w, y - half_h, x + half_w, y + half_h)


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_label(start: XY, end: XY, text: str, blocked: list[Box]) -> XY:
    """A point on the segment start-end where the label covers no box and no other label:
    on its own arrow, so it cannot be read as another edge's."""
    for t in (0.5, 0.38, 0.62, 0.28, 0.72, 0.2, 0.8, 0.45, 0.55):
        x, y = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
        if not any(overlaps(label_box(x, y, text), b) for b in blocked):
            return x, y
    return start[0] + 0.5 * (end[0] - start[0]), start[1] + 0.5 * (end[1] - start[1])


def _ends(source: XY, target: XY, width: float, height: float, vertical: bool) -> tuple[XY, XY]:
    """Where an edge leaves its source box and enters its target's."""
    (x0, y0), (x1, y1) = source, target
    if vertical:
        return (x0, y0 - height / 2), (x1, y1 + height / 2)
    return (x0 + width / 2, y0), (x1 - width / 2, y1)


def _edges(edges: list[tuple[str, str, str]], pos: dict[str, XY], boxes: dict[str, Box], width: float,
           height: float, vertical: bool) -> list[EdgePlace]:
    blocked = list(boxes.values())
    placed = []
    for source, target, text in edges:
        (x0, y0), (x1, y1) = pos[source], pos[target]
        start, end = _ends(pos[source], pos[target], width, height, vertical)
        others = [b for name, b in boxes.items() if name not in (source, target)]
        arc = crosses(start, end, others)
        if arc and vertical:  # around the boxes between, on their right
            start, end = (x0 + width / 2, y0), (x1 + width / 2, y1)
            label = ((start[0] + end[0]) / 2 + 0.15 * (start[1] - end[1]), (start[1] + end[1]) / 2)
        elif arc:  # above them
            start, end = (x0, y0 + height / 2), (x1, y1 + height / 2)
            label = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.15 * (end[0] - start[0]))
        else:
            label = place_label(start, end, text, blocked)
        blocked.append(label_box(*label, text))
        placed.append(EdgePlace(source, target, start, end, label, arc))
    return placed


def _bounds(boxes: dict[str, Box], arcs: bool, vertical: bool, title_chars: int) -> Box:
    """Room for the arcs, the title on one line, and never more than 2.5 times as long as wide."""
    lo_x, hi_x = min(b[0] for b in boxes.values()) - 0.3, max(b[2] for b in boxes.values()) + 0.3
    lo_y, hi_y = min(b[1] for b in boxes.values()) - 0.4, max(b[3] for b in boxes.values()) + 0.3
    if arcs:
        if vertical:  # room for an arc and its label beside the boxes
            hi_x += 0.3 * (hi_y - lo_y) / 2 + 1.5
        else:
            hi_y += 0.15 * (hi_x - lo_x) / 2 + 0.6
    least = 0.1 * title_chars / INCH_PER_UNIT  # the title on one line (11 pt)
    if hi_x - lo_x < least:
        lo_x, hi_x = lo_x - (least - (hi_x - lo_x)) / 2, hi_x + (least - (hi_x - lo_x)) / 2
    span_x, span_y = hi_x - lo_x, hi_y - lo_y + 0.9 / INCH_PER_UNIT
    if span_y > 2.5 * span_x:
        lo_x, hi_x = lo_x - (span_y / 2.5 - span_x) / 2, hi_x + (span_y / 2.5 - span_x) / 2
    elif span_x > 2.5 * span_y:
        lo_y, hi_y = lo_y - (span_x / 2.5 - span_y) / 2, hi_y + (span_x / 2.5 - span_y) / 2
    return (lo_x, lo_y, hi_x, hi_y)


def layout(nodes: list[str], edges: list[tuple[str, str, str]], width: float, height: float,
           title_chars: int = 0) -> Layout:
    """The whole drawing: ``nodes`` in topological order, ``edges`` as (source, target, label
    text), every box ``width`` × ``height`` units, a title of ``title_chars`` characters."""
    pos, vertical = orient(nodes, [(s, t) for s, t, _ in edges], width, height)
    boxes = {name: (px - width / 2, py - height / 2, px + width / 2, py + height / 2) for name, (px, py) in pos.items()}
    placed = _edges(edges, pos, boxes, width, height, vertical)
    bounds = _bounds(boxes, any(e.arc for e in placed), vertical, title_chars)
    return Layout(pos, boxes, placed, width, height, vertical, bounds)
