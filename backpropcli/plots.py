"""matplotlib figures, drawn with the Agg backend and written atomically as PNG."""

from __future__ import annotations

import contextlib
from pathlib import Path

from backpropcli.files import write_atomic
from backpropcli.fmt import compact

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
    return f"y = {w:.4g}x {'-' if b < 0 else '+'} {abs(b):.4g}"


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
    ax.set_title(f"Figure 1: regression line ({result.verdict})")
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
    note = "" if result.config.zero_grad else ", grads not zeroed"
    ax.set_title(f"Figure 2: loss over iterations (lr={result.config.lr:g}{note})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)


ERROR_FLOOR = 1e-18  # exact agreement is drawn here on the log axis


def check_curves(check, path: Path) -> Path:
    """f and f' (grad) or f'' (hessian) over the points: analytic against custom,
    and each method's relative error against the analytic column on a log axis."""
    plt = _pyplot()
    axis_var = check.variables[0]
    order = sorted(range(len(check.points)), key=lambda i: check.points[i].inputs[axis_var])
    xs = [check.points[i].inputs[axis_var] for i in order]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    first = check.order == 1

    def entries(point):
        """(label, comparison) of each derivative; a Hessian's upper triangle (it is symmetric)."""
        return [(check.label(key), comp) for key, comp in check.entries(point) if first or key[0] <= key[1]]

    if first:
        top.plot(xs, [check.points[i].value_analytic for i in order], color="black", lw=1.5, label="f (analytic)")
    labels = [name for name, _ in entries(check.points[0])]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, label in enumerate(labels):
        analytic = [dict(entries(check.points[i]))[label].analytic for i in order]
        judged = [getattr(dict(entries(check.points[i]))[label], check.judged) for i in order]
        color = colors[k % len(colors)]
        top.plot(xs, analytic, color=color, lw=1.5, label=f"{label} analytic")
        step = max(1, len(xs) // 60)
        name = "custom Function" if check.has_custom else "autograd"
        top.plot(xs[::step], judged[::step], "o", ms=3.5, mfc="none", color=color, label=f"{label} {name}")
    _keep_truth_in_view(top, check, entries, first, order)
    top.set_ylabel("value")
    top.grid(alpha=0.3)
    top.legend(fontsize=8, loc="best")
    top.set_title(f"{check.function}: {'gradient' if first else 'second derivative'}, "
                  f"{check.dtype}")

    styles = {"custom": ("tab:blue", "-"), "autograd": ("tab:orange", "--"),
              "finite_difference": ("tab:green", ":"), "derivative_graph": ("tab:purple", "-.")}
    for method, (color, ls) in styles.items():
        errors = []
        for i in order:
            comps = [c for _, c in entries(check.points[i])]
            if method not in comps[0].rel_error:
                break
            e = max(c.rel_error[method] for c in comps)
            errors.append(max(e, ERROR_FLOOR) if e == e else float("nan"))
        else:
            label = {"derivative_graph": "autograd of the report's f′ graph"}.get(method, method.replace("_", " "))
            bottom.semilogy(xs, errors, color=color, ls=ls, lw=1.2, label=label)
    bottom.set_xlabel(axis_var)
    bottom.set_ylabel("relative error against analytic (log)")
    bottom.grid(alpha=0.3, which="both")
    bottom.legend(fontsize=8, loc="best")
    bottom.text(0.01, 0.02, f"exact agreement drawn at {ERROR_FLOOR:g}; gaps are nan/inf",
                transform=bottom.transAxes, fontsize=7, color="gray")
    with _huge_values_allowed(fig):
        fig.tight_layout()
    return save(fig, path)


def _keep_truth_in_view(ax, check, entries, first: bool, order: list[int]) -> None:
    """Scale the value panel to the analytic curves: a judged value that is wildly wrong (autograd
    through a graph that cancels gives -1e8 where the truth is 1e-8) would flatten them; it is
    clipped to the edge and counted, and the error panel below shows it in full."""
    import math

    truth = [c.analytic for i in order for _, c in entries(check.points[i])]
    if first:
        truth += [check.points[i].value_analytic for i in order]
    truth = [t for t in truth if math.isfinite(t)]
    if not truth:
        return
    low, high = min(truth), max(truth)
    pad = 0.1 * (high - low) or 0.1 * max(abs(high), 1e-300)
    low, high = low - pad, high + pad
    judged = [getattr(c, check.judged) for i in order for _, c in entries(check.points[i])]
    off = sum(1 for v in judged if math.isfinite(v) and not low <= v <= high)
    if off:
        ax.set_ylim(low, high)
        ax.text(0.01, 0.02, f"{check.judged} off this scale at {off} point(s): see the errors below",
                transform=ax.transAxes, fontsize=7, color="gray")


# ---- graph pictures -----------------------------------------------------------------------------

VALUE_COLOR, GRAD_COLOR, EDGE_COLOR = "#1f1f1f", "#c0392b", "#7f8c8d"


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
                                    ec="#34495e", lw=1.4 if is_output else 1.0))
        title = node.name if node.op == "input" else f"{node.name} = {node.expr}"
        ax.text(x, y + 0.36, title, ha="center", va="center", fontsize=9, fontweight="bold", color=VALUE_COLOR)
        ax.text(x, y + 0.08, node.op, ha="center", va="center", fontsize=7, style="italic", color="#566573")
        ax.text(x, y - 0.17, f"value {compact(node.value)}", ha="center", va="center", fontsize=7.5, color=VALUE_COLOR)
        ax.text(x, y - 0.42, grad_label(node), ha="center", va="center", fontsize=7.5,
                color=GRAD_COLOR if node.grad is not None else "#95a5a6", fontweight="bold")


def graph_picture(trace, path: Path, symbol: str = "f") -> Path:
    """The traced graph, left to right in the direction of the forward pass: each box shows
    the node, its operation and value (black) and its gradient (red); arrows carry the
    local gradient."""
    plt = _pyplot()

    def grad_label(node):
        return "no gradient (data)" if node.grad is None else f"∂{symbol}/∂{node.name} {compact(node.grad)}"

    longest = max(len(text) for n in trace.nodes for text in (f"value {compact(n.value)}", grad_label(n), n.expr))
    width, height, dy = max(2.3, 0.11 * longest), 1.25, 1.75
    dx = width + 1.8
    pos = _layout(trace, dx, dy)
    n_layers = len({p[0] for p in pos.values()})
    tallest = max(sum(1 for q in pos.values() if q[0] == p[0]) for p in pos.values())

    fig, ax = plt.subplots(figsize=(max(6.0, 0.78 * dx * n_layers + 1), max(3.0, 1.55 * tallest + 2.2)))
    top_margin = max(p[1] for p in pos.values()) + height / 2 + 0.3
    for e in trace.edges:
        (x0, y0), (x1, y1) = pos[e.source], pos[e.target]
        start, end = (x0 + width / 2, y0), (x1 - width / 2, y1)
        others = [(px - width / 2, py - height / 2, px + width / 2, py + height / 2)
                  for name, (px, py) in pos.items() if name not in (e.source, e.target)]
        if _crosses(start, end, others):
            # a skip connection (v1 -> v4 in Figure 7): arc over the boxes in between
            start, end = (x0, y0 + height / 2), (x1, y1 + height / 2)
            ax.annotate("", xy=end, xytext=start, arrowprops=dict(
                arrowstyle="-|>", color=EDGE_COLOR, lw=1.3, shrinkA=2, shrinkB=2, connectionstyle="arc3,rad=-0.3"))
            span = end[0] - start[0]
            lx, ly = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.15 * span
            top_margin = max(top_margin, ly + 0.3)
        else:
            ax.annotate("", xy=end, xytext=start,
                        arrowprops=dict(arrowstyle="-|>", color=EDGE_COLOR, lw=1.3, shrinkA=2, shrinkB=2))
            # edges into the same node get staggered labels
            incoming = [f for f in trace.edges if f.target == e.target]
            k = incoming.index(e)
            t = 0.5 if len(incoming) == 1 else 0.3 + 0.4 * k / (len(incoming) - 1)
            lx, ly = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]) + 0.16
        label = "data" if e.local is None else f"local {compact(e.local)}"
        ax.text(lx, ly, label, fontsize=6.5, color=EDGE_COLOR, ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
    _draw_nodes(ax, trace, pos, width, height, grad_label)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - width / 2 - 0.3, max(xs) + width / 2 + 0.3)
    ax.set_ylim(min(ys) - height / 2 - 0.6, top_margin)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(trace.title, fontsize=9)
    ax.text(0.5, 0.0, f"forward pass left to right · black: value · red: gradient ∂{symbol}/∂node · "
            "on arrows: local gradient", transform=ax.transAxes, ha="center", va="bottom", fontsize=7,
            color="#566573")
    return save(fig, path)


def dot_text(trace, symbol: str = "f") -> str:
    """The same graph as Graphviz DOT, for those who have Graphviz (dot -Tpng)."""

    def quote(text: str) -> str:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'

    lines = ["digraph backprop {", "  rankdir=LR;", '  node [shape=box, style="rounded", fontname="Helvetica"];',
             f"  label={quote(trace.title)};"]
    for node in trace.nodes:
        title = node.name if node.op == "input" else f"{node.name} = {node.expr}"
        label = f"{title}\n{node.op}\nvalue {compact(node.value)}\n∂{symbol}/∂{node.name} {compact(node.grad)}"
        lines.append(f"  {quote(node.name)} [label={quote(label)}];")
    for e in trace.edges:
        label = "data" if e.local is None else "local " + compact(e.local)
        lines.append(f"  {quote(e.source)} -> {quote(e.target)} [label={quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
