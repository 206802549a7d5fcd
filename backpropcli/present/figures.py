"""matplotlib figures, drawn with the Agg backend and written atomically as PNG."""

from __future__ import annotations

import contextlib
from pathlib import Path

from backpropcli.io.files import write_atomic
from backpropcli.present.fmt import compact, partial

DPI = 150


def _pyplot():
    import os

    import warnings

    os.environ["MPLBACKEND"] = "Agg"  # MPLBACKEND=nonsense would fail matplotlib's import
    # data near ±1e308: matplotlib's own hi - lo overflows; the axes are fixed in _tame_huge_axes
    warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning, r"matplotlib\.")
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    import matplotlib.pyplot as plt

    return plt


HUGE = 1e300  # beyond this, matplotlib's tick steps (scale * 10) overflow


def _tame_huge_axes(fig) -> None:
    """Data near ±1e308: matplotlib's tick locator overflows ("arange: cannot compute
    length"). Such an axis gets the data's limits and three fixed ticks."""
    import math

    from matplotlib.ticker import FixedLocator, NullLocator

    for ax in fig.axes:
        for axis, interval, set_limits in ((ax.xaxis, ax.dataLim.intervalx, ax.set_xlim),
                                           (ax.yaxis, ax.dataLim.intervaly, ax.set_ylim)):
            lo, hi = (float(v) for v in interval)
            if axis.get_scale() == "linear" and math.isfinite(lo) and math.isfinite(hi) \
                    and max(abs(lo), abs(hi)) > HUGE:
                set_limits(lo, hi)
                axis.set_major_locator(FixedLocator([lo, lo / 2 + hi / 2, hi]))
                axis.set_minor_locator(NullLocator())


@contextlib.contextmanager
def _huge_values_allowed(fig):
    """Tame the axes (above) and silence matplotlib's own overflow warnings in hi - lo."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        _tame_huge_axes(fig)
        yield


def save(fig, path: Path) -> Path:
    plt = _pyplot()
    try:
        with _huge_values_allowed(fig):
            return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight"))
    finally:
        plt.close(fig)


MAX_DRAWN = 20_000  # points per curve: more only costs memory and time (10^8 losses would take GBs)


def _stride(n: int) -> int:
    return max(1, -(-n // MAX_DRAWN))


def _line(w: float, b: float) -> str:
    """y = -x + 1, y = 0.5x - 2, y = 3: a unit slope without its 1, a zero term left out."""
    slope = {"1": "x", "-1": "-x", "0": ""}.get(f"{w:.4g}", f"{w:.4g}x")
    if f"{abs(b):.4g}" == "0":
        return f"y = {slope or '0'}"
    if not slope:
        return f"y = {b:.4g}"
    return f"y = {slope} {'-' if b < 0 else '+'} {abs(b):.4g}"


def regression_line(result, path: Path) -> Path:
    """Figure 1 of the report: the data, the fitted line, and the least-squares line."""
    plt = _pyplot()
    data = result.data
    fig, ax = plt.subplots(figsize=(6, 4.2))
    lo, hi = min(data.x), max(data.x)
    pad = 0.1 * (hi - lo)
    xs = [lo - pad, hi + pad]
    every = _stride(len(data.x))
    ax.scatter(data.x[::every], data.y[::every], color="black", zorder=3,
               label="data" if every == 1 else f"data (every {every}th point)")
    ax.plot(xs, [result.W * v + result.b for v in xs], color="tab:blue", lw=2,
            label=f"GD after {result.iters_run} steps: {_line(result.W, result.b)}")
    opt = result.optimum
    ax.plot(xs, [opt.W * v + opt.b for v in xs], color="tab:green", ls="--", lw=1.5,
            label=f"least squares: {_line(opt.W, opt.b)}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"Figure 1: regression line\n{result.verdict}", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)


def loss_curve(result, path: Path) -> Path:
    """Figure 2 of the report: the loss before each update, on a log axis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    every = _stride(len(result.losses))
    steps = [*range(1, len(result.losses) + 1, every)]
    positive = [max(v, 1e-300) if v == v else float("nan") for v in result.losses[::every]]
    if steps[-1] != len(result.losses):  # the last step is always drawn
        steps.append(len(result.losses))
        positive.append(max(result.losses[-1], 1e-300) if result.losses[-1] == result.losses[-1] else float("nan"))
    ax.semilogy(steps, positive, color="tab:red", lw=1.8, label="MSE before each update")
    finite = [v for v in positive if v == v and v != float("inf")]
    # the least-squares loss is often ~1e-32: draw it only where it does not squash the curve
    if finite and result.optimum.loss >= min(finite) / 100:
        ax.axhline(result.optimum.loss, color="tab:green", ls="--", lw=1, label="least-squares loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (log scale)")
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    note = "" if result.config.zero_grad else ", grads not zeroed"
    ax.set_title(f"Figure 2: loss over iterations (lr={result.config.lr:g}{note})\n{result.verdict}", fontsize=11)
    # labelled ticks at 1, 2, 5 × 10^k on a short axis, at decades on a long one; never the
    # crowded minor-tick labels matplotlib puts on a log axis spanning less than a decade
    decades = math.log10(max(finite) / min(finite)) if finite and min(finite) > 0 else 10
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5) if decades <= 2 else (1,), numticks=12))
    if decades <= 2:  # 0.2, 0.5, 1, 2, 5 read better than 2×10⁻¹; a long axis keeps 10^k
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(alpha=0.3, which="major")
    ax.grid(alpha=0.1, which="minor")
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)


EPSILON = {"float64": 2.220446049250313e-16, "float32": 1.1920928955078125e-07}  # machine epsilon


def _where(check, axis_var: str) -> str:
    """What is held fixed along the plot: the other variables and the parameters."""
    others = [f"{v} = {check.points[0].inputs[v]:g}" for v in check.variables if v != axis_var]
    params = [f"{k} = {v:g}" for k, v in check.params.items()]
    return ", ".join(others + params)


def _error_panel(bottom, check, xs, order, entries, name: str, marked=None, at=None) -> None:
    """Each method's relative error against analytic as markers, the check's tolerance as a
    line and the dtype's rounding as a band (exact agreement drawn at its bottom). ``marked``:
    the check the user asked for, when the curve is a range around it; its own errors (the
    verdict) are drawn as large open markers over the curve's, at x = ``at(point)``."""
    eps = EPSILON.get(check.dtype, EPSILON["float64"])
    floor = eps / 100
    styles = {"custom": ("tab:blue", "o"), "autograd": ("tab:orange", "s"),
              "finite_difference": ("tab:green", "^"), "derivative_graph": ("tab:purple", "D")}
    layers = [(check.points, xs, order, {"ms": 2.5, "alpha": 0.8}, "")]
    if marked is not None:
        layers.append((marked.points, [at(p) for p in marked.points], range(len(marked.points)),
                       {"ms": 7, "mfc": "none", "mew": 1.5}, " at the checked points"))
    highest = check.rtol
    for points, where, indices, look, suffix in layers:
        for method, (color, marker) in styles.items():
            errors = []
            for i in indices:
                comps = [c for _, c in entries(points[i])]
                if method not in comps[0].rel_error:
                    break
                errors.append(max(c.rel_error[method] for c in comps))
            else:
                label = {"derivative_graph": "autograd of the report's f′ graph"}.get(method,
                                                                                      method.replace("_", " "))
                shown = [max(e, floor) if e == e else float("nan") for e in errors]
                highest = max([highest] + [e for e in shown if e == e and e != float("inf")])
                bottom.semilogy(where, shown, marker, color=color, label=label + suffix, ls="none", **look)
    # the band spans the width in axes coordinates and is added without autolim: anything that
    # updates the data limits inverts the data transform, singular while x spans ±1e308
    from matplotlib.collections import PolyCollection

    low = floor * 0.5
    band = PolyCollection([[(0, low), (1, low), (1, eps), (0, eps)]], transform=bottom.get_yaxis_transform(),
                          facecolor="0.85", edgecolor="none", zorder=0,
                          label=f"below {check.dtype} epsilon {eps:.1e}: rounding (exact 0 drawn at the bottom)")
    bottom.add_collection(band, autolim=False)
    bottom.axhline(check.rtol, color="tab:red", ls="--", lw=1.2,
                   label=f"tolerance rtol {check.rtol:g}: the {name} column fails above it")
    bottom.set_ylim(floor * 0.5, highest * 30)
    bottom.set_ylabel("relative error vs analytic")


MARKED_LINES = 20  # up to this many checked points get a dotted line each


def _curves_title(check, marked, axis_var: str, chosen_range: bool) -> str:
    """What is drawn, in what dtype, where the checked points are and what is held fixed."""
    first = check.order == 1
    held = _where(check, axis_var)
    n = len(marked.points)
    if not chosen_range:
        chosen = f"{n} checked points"
    elif n == 1:
        chosen = f"range chosen around the checked point {axis_var} = {marked.points[0].inputs[axis_var]:g} (dotted)"
    else:
        chosen = f"a dense curve across the {n} checked points ({'dotted' if n <= MARKED_LINES else 'open markers'})"
    return (f"{check.function}: {'f and its gradient' if first else 'f and its second derivatives'}, "
            f"{check.dtype}\n{chosen}" + (f"; {held}" if held else ""))


def _axis_unit(xs: list[float]) -> float:
    """1, or a power of ten for inputs near ±1e308: matplotlib's transforms divide by the axis'
    span, which overflows to inf there (a singular transform); the axis then reads x / 1e+308."""
    import math

    big = max((abs(x) for x in xs if math.isfinite(x)), default=0.0)
    return 1.0 if big <= HUGE else 10.0 ** math.floor(math.log10(big))


def check_curves(check, path: Path, requested=None) -> Path:
    """Three panels along the first variable: f; its derivatives (f′ or f″; the Hessian's upper
    triangle), drawn as dense analytic curves with the judged method as markers; and every
    method's relative error against the analytic column, with the check's tolerance and the
    dtype's rounding band. `requested`: the check the user asked for when the curve is a range
    chosen around it; its points are marked."""
    plt = _pyplot()
    axis_var = check.variables[0]
    marked = requested if requested is not None else check
    order = sorted(range(len(check.points)), key=lambda i: check.points[i].inputs[axis_var])
    unit = _axis_unit([check.points[i].inputs[axis_var] for i in order])

    def at(point) -> float:
        """Where a point sits on the x axis, in the axis' unit."""
        return point.inputs[axis_var] / unit

    xs = [at(check.points[i]) for i in order]
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(10.5, 9.5), sharex=True,
                                              gridspec_kw={"height_ratios": [1, 1.3, 1.1]})
    first = check.order == 1

    def entries(point):
        """(label, comparison) of each derivative; a Hessian's upper triangle (it is symmetric)."""
        return [(check.label(key), comp) for key, comp in check.entries(point) if first or key[0] <= key[1]]

    top.plot(xs, [check.points[i].value_analytic for i in order], color="black", lw=1.6, label="f (analytic)")
    top.set_ylabel("f")
    labels = [name for name, _ in entries(check.points[0])]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    name = "custom Function" if check.has_custom else "autograd"
    for k, label in enumerate(labels):
        color = colors[k % len(colors)]
        middle.plot(xs, [dict(entries(check.points[i]))[label].analytic for i in order], color=color, lw=1.6,
                    ls=("-", "--", ":")[k % 3], label=f"{label} analytic")
        checked = [(at(p), getattr(dict(entries(p))[label], check.judged)) for p in marked.points]
        middle.plot([c[0] for c in checked], [c[1] for c in checked], "o", ms=6, mfc="none", mew=1.5, color=color,
                    label=f"{label} {name} at the checked point{'s' if len(checked) > 1 else ''}")
    _keep_truth_in_view(middle, check, marked, entries, order)
    middle.set_ylabel("derivative" if first else "second derivative")

    _error_panel(bottom, check, xs, order, entries, name, marked if requested is not None else None, at)
    bottom.set_xlabel(axis_var if unit == 1 else f"{axis_var} / {unit:g}")

    for point in marked.points if len(marked.points) <= MARKED_LINES else []:  # many: the markers say it
        for ax in (top, middle, bottom):
            ax.axvline(at(point), color="0.4", lw=0.8, ls=":", zorder=0)
    for ax in (top, middle, bottom):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside, not over
    top.set_title(_curves_title(check, marked, axis_var, requested is not None), fontsize=10)
    with _huge_values_allowed(fig):
        fig.tight_layout()
    return save(fig, path)


def _keep_truth_in_view(ax, check, marked, entries, order: list[int]) -> None:
    """Scale the derivative panel to the analytic curves: a judged value that is wildly wrong
    (autograd through a graph that cancels gives -1e8 where the truth is 1e-8) would flatten them;
    it is clipped to the edge and counted, and the error panel below shows it in full."""
    import math

    truth = [c.analytic for i in order for _, c in entries(check.points[i])]
    truth = [t for t in truth if math.isfinite(t)]
    if not truth:
        return
    low, high = min(truth), max(truth)
    pad = 0.1 * (high - low) or 0.1 * max(abs(high), 1e-300)
    low, high = low - pad, high + pad
    judged = [getattr(c, check.judged) for p in marked.points for _, c in entries(p)]
    off = sum(1 for v in judged if math.isfinite(v) and not low <= v <= high)
    if off:
        ax.set_ylim(low, high)
        ax.text(0.01, 0.02, f"{check.judged} off this scale at {off} point(s): see the errors below",
                transform=ax.transAxes, fontsize=7, color="gray")


# ---- graph pictures -----------------------------------------------------------------------------

VALUE_COLOR, GRAD_COLOR, EDGE_COLOR, EDGE_TEXT = "#1f1f1f", "#c0392b", "#7f8c8d", "#2c3e50"


def _crosses(start, end, boxes) -> bool:
    """Does the straight segment start-end pass through any of the boxes (x0, y0, x1, y1)?"""
    for k in range(1, 40):
        t = k / 40
        x, y = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
        if any(x0 < x < x1 and y0 < y < y1 for x0, y0, x1, y1 in boxes):
            return True
    return False


def _layout(trace, dx: float, dy: float) -> dict[str, tuple[float, float]]:
    """Left-to-right layered layout: a node's layer is its longest path from an input
    (networkx's topological order); an input sits just before its first consumer, so
    parameters do not stretch across the picture; within a layer, nodes are ordered by
    the mean height of their neighbours (barycentre sweeps) to keep edges from crossing."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(n.name for n in trace.nodes)
    g.add_edges_from((e.source, e.target) for e in trace.edges)
    layer: dict[str, int] = {}
    for name in nx.topological_sort(g):
        preds = list(g.predecessors(name))
        layer[name] = 1 + max(layer[p] for p in preds) if preds else 0
    for name in g.nodes:
        succs = list(g.successors(name))
        if not list(g.predecessors(name)) and succs:
            layer[name] = min(layer[c] for c in succs) - 1
    layers: dict[int, list[str]] = {}
    for name in (n.name for n in trace.nodes):
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


def _ends(e, pos, width, height, vertical):
    """Where an edge leaves its source box and enters its target's."""
    (x0, y0), (x1, y1) = pos[e.source], pos[e.target]
    if vertical:
        return (x0, y0 - height / 2), (x1, y1 + height / 2)
    return (x0 + width / 2, y0), (x1 - width / 2, y1)


LABEL_FONT = 9  # points; a character is about 0.6 of that wide
INCH_PER_UNIT = 0.72  # the drawing's scale: one layout unit in inches


def _label_box(x: float, y: float, text: str) -> tuple[float, float, float, float]:
    """The box a label of `text` centred at (x, y) covers, in layout units (with a margin)."""
    half_w = (0.6 * LABEL_FONT / 72 * len(text)) / INCH_PER_UNIT / 2 + 0.12
    half_h = (LABEL_FONT / 72) / INCH_PER_UNIT / 2 + 0.1
    return (x - half_w, y - half_h, x + half_w, y + half_h)


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_label(start, end, text, blocked) -> tuple[float, float]:
    """A point on the segment start-end where the label covers no box and no other label:
    on its own arrow, so it cannot be read as another edge's."""
    for t in (0.5, 0.38, 0.62, 0.28, 0.72, 0.2, 0.8, 0.45, 0.55):
        x, y = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
        if not any(_overlaps(_label_box(x, y, text), b) for b in blocked):
            return x, y
    return start[0] + 0.5 * (end[0] - start[0]), start[1] + 0.5 * (end[1] - start[1])


def _orient(trace, width: float, height: float) -> tuple[dict, bool]:
    """Positions of the boxes, and whether the forward pass runs top to bottom: the direction
    whose picture is closer to square (a long chain runs top to bottom)."""
    grid = _layout(trace, 1.0, 1.0)  # (layer, rank)
    n_layers = len({p[0] for p in grid.values()})
    widest = max(sum(1 for q in grid.values() if q[0] == p[0]) for p in grid.values())

    def stretch(w: float, h: float) -> float:
        return max(w, h) / min(w, h)

    vertical = stretch(widest * (width + 1.6), n_layers * (height + 1.3)) < stretch(
        n_layers * (width + 2.4), widest * 1.9 + 0.5)
    if vertical:
        return {name: (-rank * (width + 1.6), -layer * (height + 1.3)) for name, (layer, rank) in grid.items()}, True
    return {name: (layer * (width + 2.4), rank * 1.9) for name, (layer, rank) in grid.items()}, False


def _canvas(trace, pos, boxes, width, height, vertical):
    """The figure and its axes, sized so one layout unit is INCH_PER_UNIT inches: room for the
    arcs, the title on one line, and never more than 2.5 times as long as wide."""
    plt = _pyplot()
    lo_x, hi_x = min(b[0] for b in boxes.values()) - 0.3, max(b[2] for b in boxes.values()) + 0.3
    lo_y, hi_y = min(b[1] for b in boxes.values()) - 0.4, max(b[3] for b in boxes.values()) + 0.3
    if any(_crosses(*_ends(e, pos, width, height, vertical),
                    [b for name, b in boxes.items() if name not in (e.source, e.target)]) for e in trace.edges):
        if vertical:  # room for an arc and its label beside the boxes
            hi_x += 0.3 * (hi_y - lo_y) / 2 + 1.5
        else:
            hi_y += 0.15 * (hi_x - lo_x) / 2 + 0.6
    least = 0.1 * len(trace.title) / INCH_PER_UNIT  # the title on one line (11 pt)
    if hi_x - lo_x < least:
        lo_x, hi_x = lo_x - (least - (hi_x - lo_x)) / 2, hi_x + (least - (hi_x - lo_x)) / 2
    span_x, span_y = hi_x - lo_x, hi_y - lo_y + 0.9 / INCH_PER_UNIT
    if span_y > 2.5 * span_x:
        lo_x, hi_x = lo_x - (span_y / 2.5 - span_x) / 2, hi_x + (span_y / 2.5 - span_x) / 2
    elif span_x > 2.5 * span_y:
        lo_y, hi_y = lo_y - (span_x / 2.5 - span_y) / 2, hi_y + (span_x / 2.5 - span_y) / 2
    fig_h = INCH_PER_UNIT * (hi_y - lo_y) + 0.9
    fig = plt.figure(figsize=(INCH_PER_UNIT * (hi_x - lo_x), fig_h))
    ax = fig.add_axes((0, 0.45 / fig_h, 1, (fig_h - 0.9) / fig_h))
    ax.set_xlim(lo_x, hi_x)
    ax.set_ylim(lo_y, hi_y)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax, fig_h


def _draw_edges(ax, trace, pos, boxes, width, height, vertical) -> None:
    """Arrows with their local gradient on them; a skip connection arcs beside the boxes between."""
    blocked = list(boxes.values())
    for e in trace.edges:
        (x0, y0), (x1, y1) = pos[e.source], pos[e.target]
        start, end = _ends(e, pos, width, height, vertical)
        others = [b for name, b in boxes.items() if name not in (e.source, e.target)]
        label = "data" if e.local is None else f"local {compact(e.local)}"
        arrow = dict(arrowstyle="-|>", color=EDGE_COLOR, lw=1.4, shrinkA=2, shrinkB=2)
        if _crosses(start, end, others):  # v1 -> v4 in Figure 7
            if vertical:
                start, end = (x0 + width / 2, y0), (x1 + width / 2, y1)
                lx, ly = (start[0] + end[0]) / 2 + 0.15 * (start[1] - end[1]), (start[1] + end[1]) / 2
            else:
                start, end = (x0, y0 + height / 2), (x1, y1 + height / 2)
                lx, ly = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.15 * (end[0] - start[0])
            arrow["connectionstyle"] = "arc3,rad=-0.3"
        else:
            lx, ly = _place_label(start, end, label, blocked)
        ax.annotate("", xy=end, xytext=start, arrowprops=arrow, zorder=1)
        blocked.append(_label_box(lx, ly, label))
        ax.text(lx, ly, label, fontsize=LABEL_FONT, color=EDGE_TEXT, ha="center", va="center", zorder=4,
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=EDGE_COLOR, lw=0.6))


def _grad_label(node, symbol: str) -> str:
    return "no gradient (data)" if node.grad is None else f"{partial(symbol, node.name)} {compact(node.grad)}"


def _drawn(trace, symbol: str):
    """What the picture draws: the trace without the nodes no edge touches (c in the graph of
    ∂f/∂x = 2ax + by, named below the picture instead), those names, the box size, the boxes'
    positions and whether the forward pass runs top to bottom. DOT follows the same direction."""
    linked = {e.source for e in trace.edges} | {e.target for e in trace.edges}
    unused = [n.name for n in trace.nodes if n.name not in linked and len(trace.nodes) > 1]
    if unused:
        from dataclasses import replace

        trace = replace(trace, nodes=[n for n in trace.nodes if n.name in linked])
    longest = max(len(text) for n in trace.nodes for text in (f"value {compact(n.value)}", _grad_label(n, symbol),
                                                               f"{n.name} = {n.expr}"))
    width, height = max(2.3, 0.15 * longest + 0.4), 1.45
    pos, vertical = _orient(trace, width, height)
    return trace, unused, width, height, pos, vertical


def graph_picture(trace, path: Path, symbol: str = "f") -> Path:
    """The traced graph in the direction of the forward pass (left to right, or top to bottom
    when that is closer to square): each box shows the node, its operation and value (black)
    and its gradient (red); each arrow carries its local gradient."""

    def grad_label(node):
        return _grad_label(node, symbol)

    trace, unused, width, height, pos, vertical = _drawn(trace, symbol)
    boxes = {name: (px - width / 2, py - height / 2, px + width / 2, py + height / 2) for name, (px, py) in pos.items()}
    fig, ax, fig_h = _canvas(trace, pos, boxes, width, height, vertical)
    _draw_edges(ax, trace, pos, boxes, width, height, vertical)
    _draw_nodes(ax, trace, pos, width, height, grad_label)
    fig.text(0.5, 1 - 0.15 / fig_h, trace.title, ha="center", va="top", fontsize=11, wrap=True)
    direction = "top to bottom" if vertical else "left to right"
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

    vertical = _drawn(trace, symbol)[-1]
    lines = ["digraph backprop {", f"  rankdir={'TB' if vertical else 'LR'};", '  node [shape=box, style="rounded", fontname="Helvetica"];',
             f"  label={quote(trace.title)};"]
    for node in trace.nodes:
        title = node.name if node.op == "input" else f"{node.name} = {node.expr}"
        label = f"{title}\n{node.op}\nvalue {compact(node.value)}\n{partial(symbol, node.name)} {compact(node.grad)}"
        lines.append(f"  {quote(node.name)} [label={quote(label)}];")
    for e in trace.edges:
        label = "data" if e.local is None else "local " + compact(e.local)
        lines.append(f"  {quote(e.source)} -> {quote(e.target)} [label={quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def gate_node(trace) -> str:
    """The node a one-gate figure shows: an inner node (not an input, not the output) whose
    upstream gradient is not 1, with the most inputs that carry a gradient."""
    scores = {}
    for node in trace.nodes:
        incoming = [e for e in trace.edges if e.target == node.name and e.local is not None]
        if node.op == "input" or node.name == trace.output or not incoming or isinstance(node.grad, list):
            continue
        scores[node.name] = (node.grad != 1, len(incoming))
    if not scores:  # a graph with no inner node: its output
        return trace.output
    return max(scores, key=lambda name: scores[name])


def gate_picture(trace, name: str, path: Path, symbol: str = "f", where: str = "") -> Path:
    """Figure 3 of the report, from a real node of a real run: one gate, its inputs on the
    left and its output on the right; the forward values run left to right above, the
    gradients right to left below: downstream = upstream × local on every input."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    plt = _pyplot()
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
    out_arrow = dict(arrowstyle="-|>", lw=1.8, mutation_scale=16)
    # the output: forward value out (black, above), upstream gradient in (red, below)
    ax.add_patch(FancyArrowPatch((7.65, mid + 0.3), (10.0, mid + 0.3), color=VALUE_COLOR, **out_arrow))
    ax.text(8.8, mid + 0.55, f"{node.name} = {compact(node.value)}", ha="center", fontsize=11, color=VALUE_COLOR)
    ax.add_patch(FancyArrowPatch((10.0, mid - 0.3), (7.65, mid - 0.3), color=GRAD_COLOR, **out_arrow))
    ax.text(8.8, mid - 0.75, f"upstream {partial(symbol, node.name)}\n= {compact(node.grad)}", ha="center",
            va="center", fontsize=11, color=GRAD_COLOR, fontweight="bold")
    for k, e in enumerate(incoming):
        y = mid + (rows - 1) * 1.05 - 2.1 * k
        parent = next(n for n in trace.nodes if n.name == e.source)
        ax.add_patch(FancyArrowPatch((3.0, y + 0.3), (5.35, y + 0.3), color=VALUE_COLOR, **out_arrow))
        ax.text(4.15, y + 0.55, f"{e.source} = {compact(parent.value)}", ha="center", fontsize=11, color=VALUE_COLOR)
        if e.local is None:
            ax.text(4.15, y - 0.3, "data: no gradient", ha="center", fontsize=10, color="#95a5a6")
            continue
        ax.add_patch(FancyArrowPatch((5.35, y - 0.3), (3.0, y - 0.3), color=GRAD_COLOR, **out_arrow))
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
