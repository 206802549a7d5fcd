"""The derivative-check figure: f, its derivatives by every method, and their errors, drawn along
the line the checked points lie on (core/sampling.py), on the axis scale their span needs, with
every non-finite value marked where it occurs."""

from __future__ import annotations

import math
from pathlib import Path

from backpropcli.present import tables
from backpropcli.present.figures.common import HUGE, huge_values_allowed, pyplot, save
from backpropcli.present.fmt import error, general

EPSILON = {"float64": 2.220446049250313e-16, "float32": 1.1920928955078125e-07}  # machine epsilon
STYLES = {"custom": ("tab:blue", "o"), "autograd": ("tab:orange", "s"),
          "finite_difference": ("tab:green", "^"), "derivative_graph": ("tab:purple", "D")}
NONFINITE = "tab:red"
MARKED_LINES = 20  # up to this many checked points get a dotted line each


def _label(method: str) -> str:
    return {"derivative_graph": "autograd of the f′ graph", "finite_difference": "finite difference"}.get(
        method, tables.METHOD_LABELS[method])


def _where(check, line, axis_var: str) -> str:
    """What the curve holds fixed or follows: the other variables along the line, the parameters."""
    parts = []
    for v in check.variables:
        if v == axis_var:
            continue
        if line is None:
            parts.append(f"{v} as labelled at each point")
            continue
        offset, slope = line.others[v]
        if slope == 0:
            parts.append(f"{v} = {general(offset)}")
        else:
            shift = "" if offset == 0 else f" {'-' if offset < 0 else '+'} {general(abs(offset))}"
            parts.append(f"along {v} = {general(slope)}·{axis_var}{shift}")
    return ", ".join(parts + [f"{k} = {general(v)}" for k, v in check.params.items()])


def _nonfinite(ax, xs: list[float], values: list[float], color: str, label: str | None) -> None:
    """A value that is nan or inf cannot sit on the axis: an ✕ at the panel's top edge, at its x."""
    where = [(x, v) for x, v in zip(xs, values) if not math.isfinite(v)]
    if where:
        ax.plot([x for x, _ in where], [0.97] * len(where), "X", ms=9, color=color, mec=NONFINITE, mew=1.2,
                transform=ax.get_xaxis_transform(), clip_on=False, label=label, ls="none", zorder=5)
        for x, v in where[:MARKED_LINES]:  # what it is, beside it: nan, inf or -inf
            ax.annotate(str(v), (x, 0.97), xycoords=ax.get_xaxis_transform(), xytext=(7, -3),
                        textcoords="offset points", fontsize=8, color=NONFINITE, va="top")


def _error_panel(bottom, check, xs, order, entries, name: str, marked=None, at=None) -> None:
    """Each method's relative error against analytic as markers, the check's tolerance as a
    line and the dtype's rounding as a band (exact agreement drawn at its bottom); a nan error at
    the top edge. ``marked``: the check the user asked for, when the curve is a range around it;
    its own errors (the verdict) are drawn as large open markers over the curve's."""
    eps = EPSILON.get(check.dtype, EPSILON["float64"])
    floor = eps / 100
    layers: list[tuple] = [(check.points, xs, order, {"ms": 2.5, "alpha": 0.8}, "")]
    if marked is not None:
        layers.append((marked.points, [at(p) for p in marked.points], range(len(marked.points)),
                       {"ms": 7, "mfc": "none", "mew": 1.5}, " at the checked points"))
    highest = check.rtol
    for points, where, indices, look, suffix in layers:
        for method, (color, marker) in STYLES.items():
            errors = []
            for i in indices:
                comps = [c for _, c in entries(points[i])]
                if not points[i].checked:  # no truth there: nothing to draw
                    errors.append(float("nan"))
                    continue
                if method not in comps[0].rel_error:
                    break
                errors.append(max((c.rel_error[method] for c in comps), key=lambda e: (math.isnan(e), e)))
            else:
                shown = [max(e, floor) if math.isfinite(e) else math.nan for e in errors]
                highest = max([highest] + [e for e in shown if math.isfinite(e)])
                bottom.semilogy(where, shown, marker, color=color, label=_label(method) + suffix, ls="none", **look)
                _nonfinite(bottom, where, errors, color, f"{_label(method)}{suffix}: error nan or inf (top edge)")
    # the band spans the width in axes coordinates and is added without autolim: anything that
    # updates the data limits inverts the data transform, singular while x spans ±1e308
    from matplotlib.collections import PolyCollection

    low = floor * 0.5
    band = PolyCollection([[(0, low), (1, low), (1, eps), (0, eps)]], transform=bottom.get_yaxis_transform(),
                          facecolor="0.85", edgecolor="none", zorder=0,
                          label=f"below {check.dtype} epsilon {error(eps)}: rounding (exact 0 drawn at the bottom)")
    bottom.add_collection(band, autolim=False)
    bottom.axhline(check.rtol, color="tab:red", ls="--", lw=1.2,
                   label=f"tolerance rtol {general(check.rtol)}: the {name} column fails above it")
    bottom.set_ylim(floor * 0.5, highest * 30)
    bottom.set_ylabel("relative error vs analytic")


def _curves_title(check, marked, line, axis_var: str, chosen_range: bool) -> str:
    """What is drawn, in what dtype, where the checked points are and what is held fixed."""
    first = check.order == 1
    held = _where(check, line, axis_var)
    n = len(marked.points)
    if line is None:
        chosen = f"{n} checked points on no line: each at its own {axis_var}, no curve between them"
    elif not chosen_range:
        chosen = f"{n} checked points"
    elif n == 1:
        chosen = f"range chosen around the checked point {axis_var} = {general(marked.points[0].inputs[axis_var])}"
        chosen += " (dotted)"
    else:
        chosen = f"a dense curve across the {n} checked points ({'dotted' if n <= MARKED_LINES else 'open markers'})"
    return (f"{check.function}: {'f and its gradient' if first else 'f and its second derivatives'}, "
            f"{check.dtype}\n{chosen}" + (f"; {held}" if held else ""))


def _axis_unit(xs: list[float]) -> float:
    """1, or a power of ten for inputs near ±1e308: matplotlib's transforms divide by the axis'
    span, which overflows to inf there (a singular transform); the axis then reads x / 1e+308."""
    big = max((abs(x) for x in xs if math.isfinite(x)), default=0.0)
    return 1.0 if big <= HUGE else 10.0 ** math.floor(math.log10(big))


def _scale(axes, line) -> None:
    """A span of more than three decades of |x| is drawn logarithmic (symlog through 0)."""
    if line is None or line.scale == "linear":
        return
    for ax in axes:
        if line.scale == "log":
            ax.set_xscale("log")
        else:
            ax.set_xscale("symlog", linthresh=line.linthresh)


def _middle_panel(middle, check, marked, xs, order, entries, at, curve: bool) -> None:
    """The derivatives: analytic as curves (or, with no line, as a marker at each point), the judged
    method at the checked points as open markers, and its non-finite values at the top edge."""
    import matplotlib.pyplot as plt

    labels = [name for name, _ in entries(check.points[0])]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    name = "custom Function" if check.has_custom else "autograd"
    for k, label in enumerate(labels):
        color = colors[k % len(colors)]
        truth = [dict(entries(check.points[i]))[label].analytic for i in order]
        if curve:
            middle.plot(xs, truth, color=color, lw=1.6, ls=("-", "--", ":")[k % 3], label=f"{label} analytic")
        else:
            middle.plot(xs, truth, "_", ms=14, mew=2, color=color, label=f"{label} analytic at each point")
        checked = [(at(p), getattr(dict(entries(p))[label], check.judged)) for p in marked.points]
        middle.plot([c[0] for c in checked], [c[1] for c in checked], "o", ms=6, mfc="none", mew=1.5, color=color,
                    label=f"{label} {name} at the checked point{'s' if len(checked) > 1 else ''}")
        _nonfinite(middle, [c[0] for c in checked], [c[1] for c in checked], color,
                   f"{label} {name}: nan or inf here (top edge)")
    _keep_truth_in_view(middle, check, marked, entries, order)
    middle.set_ylabel("derivative" if check.order == 1 else "second derivative")


def check_curves(check, path: Path, requested=None, line=None) -> Path:
    """Three panels along `line` (core.sampling.Line; None: the points lie on no line, each is
    drawn at its first variable): f; its derivatives (f′ or f″; the Hessian's upper triangle), the
    analytic ones as dense curves with the judged method as markers; and every method's relative
    error against the analytic column, with the check's tolerance and the dtype's rounding band.
    `requested`: the check the user asked for when the curve is a range chosen around it."""
    plt = pyplot()
    axis_var = line.axis if line is not None else check.variables[0]
    marked = requested if requested is not None else check
    order = sorted(range(len(check.points)), key=lambda i: check.points[i].inputs[axis_var])
    unit = _axis_unit([check.points[i].inputs[axis_var] for i in order]) if line is None or \
        line.scale == "linear" else 1.0

    def at(point) -> float:
        """Where a point sits on the x axis, in the axis' unit."""
        return point.inputs[axis_var] / unit

    xs = [at(check.points[i]) for i in order]
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(10.5, 9.5), sharex=True,
                                              gridspec_kw={"height_ratios": [1, 1.3, 1.1]})

    def entries(point):
        """(label, comparison) of each derivative; a Hessian's upper triangle (it is symmetric)."""
        return [(check.label(key), comp) for key, comp in check.entries(point) if check.order == 1 or key[0] <= key[1]]

    values = [check.points[i].value_analytic for i in order]
    top.plot(xs, values, color="black", lw=1.6, label="f (analytic)", **({} if line is not None else
                                                                          {"marker": "_", "ms": 14, "ls": "none"}))
    graph = [check.points[i].value_graph for i in order]
    _nonfinite(top, xs, graph, "0.3", "f by the report's graph: nan or inf here (top edge)"
               if check.has_custom else "f by the graph: nan or inf here (top edge)")
    top.set_ylabel("f")
    if line is None:  # each point's other inputs, written at it: nothing joins the points
        top.margins(y=0.15)
        for point in marked.points[:MARKED_LINES]:
            top.annotate(", ".join(f"{v} = {general(point.inputs[v])}" for v in check.variables if v != axis_var),
                         (at(point), point.value_analytic), xytext=(4, 4), textcoords="offset points", fontsize=8)
    _middle_panel(middle, check, marked, xs, order, entries, at, curve=line is not None)
    name = "custom Function" if check.has_custom else "autograd"
    _error_panel(bottom, check, xs, order, entries, name, marked if requested is not None else None, at)
    bottom.set_xlabel(axis_var if unit == 1 else f"{axis_var} / {general(unit)}")
    _scale((top, middle, bottom), line)
    for point in marked.points if len(marked.points) <= MARKED_LINES else []:  # many: the markers say it
        for ax in (top, middle, bottom):
            ax.axvline(at(point), color="0.4", lw=0.8, ls=":", zorder=0)
    for ax in (top, middle, bottom):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside, not over
    top.set_title(_curves_title(check, marked, line, axis_var, requested is not None), fontsize=10)
    with huge_values_allowed(fig):
        fig.tight_layout()
    return save(fig, path)


def _keep_truth_in_view(ax, check, marked, entries, order: list[int]) -> None:
    """Scale the derivative panel to the analytic curves: a judged value that is wildly wrong
    (autograd through a graph that cancels gives -1e8 where the truth is 1e-8) would flatten them;
    it is clipped to the edge and counted, and the error panel below shows it in full."""
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
                transform=ax.transAxes, fontsize=8, color="gray")
