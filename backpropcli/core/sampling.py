"""Where a figure of a derivative check draws f: along the line its checked points lie on, spaced
to suit the axis (linear, logarithmic, or symmetric-logarithmic through 0).

A curve of two variables is only true where the points are: drawing f(x, y) against x at the
first y while the points move in y puts correct points off the curves. So the dense curve runs
along the line through the points (every variable an affine function of the one drawn on the
axis); points that lie on no line get no curve, only their own markers.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

from backpropcli.core import tolerance

DECADES = 3.0  # an axis whose |x| spans more than this many decades is logarithmic


@dataclass(frozen=True)
class Line:
    """The axis of a figure: the variable drawn along it, its scale, and each other variable as
    ``offset + slope * axis`` (a slope of 0: held fixed)."""

    axis: str
    scale: str = "linear"  # "linear", "log" or "symlog"
    others: dict[str, tuple[float, float]] = field(default_factory=dict)  # name: (offset, slope)
    linthresh: float = 1.0  # symlog: linear within ±linthresh

    def at(self, t: float) -> dict[str, float]:
        return {self.axis: t, **{v: offset + slope * t for v, (offset, slope) in self.others.items()}}


def _columns(variables: list[str], points: dict[str, list[float]]) -> dict[str, list[float]]:
    n = max(len(points[v]) for v in variables)
    return {v: points[v] * n if len(points[v]) == 1 else list(points[v]) for v in variables}


def scale_of(values: list[float]) -> tuple[str, float]:
    """"log" for positive values over more than DECADES decades, "symlog" for such a span of |x|
    with zero or both signs (linear within the smallest nonzero |x|), else "linear"."""
    finite = [v for v in values if math.isfinite(v)]
    nonzero = [abs(v) for v in finite if v != 0]
    if not nonzero or max(nonzero) <= 10**DECADES * min(nonzero):
        return "linear", 1.0
    if all(v > 0 for v in finite):
        return "log", 1.0
    return "symlog", min(nonzero)


def line_through(variables: list[str], points: dict[str, list[float]]) -> Line | None:
    """The line the points lie on, drawn along a variable that varies; None when they lie on none."""
    cols = _columns(variables, points)
    axis = next((v for v in variables if len(set(cols[v])) > 1), variables[0])
    ts = cols[axis]
    i, j = ts.index(min(ts)), ts.index(max(ts))
    others = {}
    for v in variables:
        if v == axis:
            continue
        slope = 0.0 if ts[j] == ts[i] else (cols[v][j] - cols[v][i]) / (ts[j] - ts[i])
        offset = cols[v][i] - slope * ts[i]
        for t, value in zip(ts, cols[v]):
            want = offset + slope * t
            size = max(abs(value), abs(want), abs(slope * t), 1e-300)
            if not abs(value - want) <= tolerance.agreement("collinear") * size:
                return None
        others[v] = (offset, slope)
    scale, linthresh = scale_of(ts)
    return Line(axis, scale, others, linthresh)


def _spaced(lo: float, hi: float, n: int, scale: str, linthresh: float) -> list[float]:
    """n values from lo to hi, evenly spaced on the axis' scale."""
    if scale == "log":
        a, b = math.log10(lo), math.log10(hi)
        return [10 ** (a + (b - a) * k / (n - 1)) for k in range(n)]
    if scale == "symlog":  # evenly spaced in asinh-like coordinates: linear near 0, logarithmic beyond
        def forward(x: float) -> float:
            return math.copysign(math.log10(1 + abs(x) / linthresh), x)

        def back(u: float) -> float:
            return math.copysign(linthresh * (10 ** abs(u) - 1), u)

        a, b = forward(lo), forward(hi)
        return [back(a + (b - a) * k / (n - 1)) for k in range(n)]
    # linear: lo, hi are the centre and half-width, each finite for any finite data (hi - lo
    # overflows at ±1e308), and every value is clamped to the float range
    mid, half, top = lo, hi, sys.float_info.max
    return [min(top, max(-top, mid + half * (2 * k / (n - 1) - 1))) for k in range(n)]


def dense(line: Line, points: dict[str, list[float]], variables: list[str], n: int) -> dict[str, list[float]]:
    """n points along `line` across the checked ones (with a margin), or around a single one."""
    ts = _columns(variables, points)[line.axis]
    lo, hi = min(ts), max(ts)
    if line.scale == "log":
        lo, hi = lo / 10**0.05, hi * 10**0.05
    elif line.scale == "linear":  # passed on as the centre and the half-width (see _spaced)
        mid, half = lo / 2 + hi / 2, hi / 2 - lo / 2
        lo, hi = mid, (1.05 * half if hi > lo else 5.0 * max(1.0, abs(lo) / 10))
    axis = _spaced(lo, hi, n, line.scale, line.linthresh)
    out = {line.axis: axis}
    for v, (offset, slope) in line.others.items():
        out[v] = [offset + slope * t for t in axis]
    return {v: out[v] for v in variables}
