"""Truth | custom | difference: two tensors of one shape drawn side by side as heatmaps, the wrong
elements outlined. Used by `check --plot` (figures/check.py) for a gradient and by the manual.

A tensor becomes a matrix the way its memory is laid out: a vector is one row, a matrix is
itself, and a tensor of higher rank keeps its last dimension as the columns and stacks every
leading index as the rows, as .reshape(-1, last) does (row r of a (2, 3, 4) tensor is
[r // 3, r % 3, :]); the caption says so.

A matrix larger than MAX_CELLS on a side is shown in blocks. Each block shows ONE element, the one
with the largest |custom − truth| in it, in all three panels (so the panels agree with each other),
and is outlined when any element in it is wrong: no wrong element disappears in the reduction, and
the difference panel shows the worst difference of every block. A nan or inf counts as the largest
difference and is drawn in NONFINITE_COLOR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backpropcli.present.figures.common import pyplot, save

MAX_CELLS = 128  # cells on a side before blocks: finer than this is not seen in a 4-inch panel
RINGED = 64  # up to this many wrong cells also get a ring each: one wrong cell of 128×128 is seen
WRONG_COLOR, NONFINITE_COLOR = "#00a000", "#222222"
CMAP = "RdBu_r"  # diverging: zero is white, the sign is the colour


def array(value) -> np.ndarray:
    """A tensor (any dtype, any device, with or without grad), an array or nested lists, as float64."""
    if hasattr(value, "detach"):
        value = value.detach().to("cpu").double().numpy()
    return np.asarray(value, dtype=np.float64)


def matrix(values: np.ndarray) -> tuple[np.ndarray, str]:
    """The 2-D view drawn, and how it was made from the tensor's shape ("" for a matrix)."""
    shape = values.shape
    if values.ndim == 0:
        return values.reshape(1, 1), "a 0-d tensor: one cell"
    if values.ndim == 1:
        return values.reshape(1, -1), f"a vector of {shape[0]}: one row"
    if values.ndim == 2:
        return values, ""
    rows = math.prod(shape[:-1])
    return values.reshape(rows, shape[-1]), (f"shape {tuple(shape)} drawn as {rows}×{shape[-1]}: the rows run through "
                                             f"dims 0–{values.ndim - 2} in order (row-major, as .reshape(-1, "
                                             f"{shape[-1]}) does), the columns are dim {values.ndim - 1}")


def axis_names(ndim: int) -> tuple[str, str]:
    """(rows, columns) of the drawn matrix, by the tensor's dims."""
    if ndim <= 1:
        return "", "index" if ndim == 1 else ""
    if ndim == 2:
        return "dim 0", "dim 1"
    return f"dims 0–{ndim - 2}, flattened", f"dim {ndim - 1}"


@dataclass
class Blocks:
    """The three panels after the reduction: one shown element per block."""

    truth: np.ndarray
    custom: np.ndarray
    wrong: np.ndarray  # bool: any element of the block is wrong
    size: tuple[int, int]  # elements per block (rows, columns); (1, 1): every element shown


def _padded(a: np.ndarray, rows: int, cols: int, fill) -> np.ndarray:
    out = np.full((rows, cols), fill, dtype=a.dtype)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def blocks(truth: np.ndarray, custom: np.ndarray, wrong: np.ndarray, max_cells: int = MAX_CELLS) -> Blocks:
    """Reduce 2-D panels to at most max_cells on a side, each block showing its element of largest
    |custom − truth| (nan and inf first) and wrong when any of its elements is."""
    n, m = truth.shape
    br, bc = -(-n // max_cells), -(-m // max_cells)
    if br == bc == 1:
        return Blocks(truth, custom, wrong, (1, 1))
    R, C = -(-n // br), -(-m // bc)
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.abs(custom - truth)
    gap = np.where(np.isnan(gap) | np.isinf(gap), np.inf, gap)
    # padding never wins: -1 is below every |difference|
    tiles = _padded(gap, R * br, C * bc, -1.0).reshape(R, br, C, bc).transpose(0, 2, 1, 3).reshape(R, C, br * bc)
    pick = tiles.argmax(axis=2)

    def chosen(a: np.ndarray, fill) -> np.ndarray:
        t = _padded(a, R * br, C * bc, fill).reshape(R, br, C, bc).transpose(0, 2, 1, 3).reshape(R, C, br * bc)
        return np.take_along_axis(t, pick[..., None], axis=2)[..., 0]

    any_wrong = np.asarray(_padded(wrong, R * br, C * bc, False).reshape(R, br, C, bc).any(axis=(1, 3)))
    return Blocks(chosen(truth, np.nan), chosen(custom, np.nan), any_wrong, (br, bc))


def _outline(ax, wrong: np.ndarray, size: tuple[int, int]) -> None:
    """The boundary between wrong and right cells, as exact cell edges (an isolated wrong cell is a
    square, a wrong region one outline)."""
    from matplotlib.collections import LineCollection

    br, bc = size
    padded = np.pad(wrong, 1, constant_values=False)
    segments = []
    rows, cols = np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])  # horizontal edges above row i
    segments += [[(c * bc - 0.5, r * br - 0.5), ((c + 1) * bc - 0.5, r * br - 0.5)] for r, c in zip(rows, cols)]
    rows, cols = np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])  # vertical edges left of column j
    segments += [[(c * bc - 0.5, r * br - 0.5), (c * bc - 0.5, (r + 1) * br - 0.5)] for r, c in zip(rows, cols)]
    if segments:
        ax.add_collection(LineCollection(segments, colors=WRONG_COLOR, linewidths=1.6, zorder=3))
    rows, cols = np.nonzero(wrong)
    if 0 < len(rows) <= RINGED and wrong.size > 64:  # a small matrix's outlines are big enough
        ax.plot((cols + 0.5) * bc - 0.5, (rows + 0.5) * br - 0.5, "o", ms=13, mfc="none", mec=WRONG_COLOR,
                mew=1.8, zorder=4, clip_on=False)


def _panel(fig, ax, values: np.ndarray, limit: float, title: str, b: Blocks, names: tuple[str, str]) -> None:
    from matplotlib import colormaps

    cmap = colormaps[CMAP].with_extremes(bad=NONFINITE_COLOR)
    R, C = values.shape
    br, bc = b.size
    shown = np.ma.masked_invalid(values)
    image = ax.imshow(shown, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest", aspect="auto",
                      extent=(-0.5, C * bc - 0.5, R * br - 0.5, -0.5))
    _outline(ax, b.wrong, b.size)
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(names[0], fontsize=9)
    ax.set_xlabel(names[1], fontsize=9)
    ax.tick_params(labelsize=9)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if R * br == 1:  # one row: its index says nothing
        ax.set_yticks([])
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.ax.tick_params(labelsize=9)


def _limit(*panels: np.ndarray) -> float:
    """The colour scale's ±limit: the largest finite magnitude (1 when everything is 0 or non-finite)."""
    finite = [np.abs(p[np.isfinite(p)]).max() for p in panels if np.isfinite(p).any()]
    top = max(finite, default=0.0)
    return float(top) if top > 0 else 1.0


def _caption(how: str, b: Blocks, wrong_count: int, total: int, nonfinite: bool) -> str:
    lines = [how] if how else []
    if b.size != (1, 1):
        lines.append(f"each cell is a block of {b.size[0]}×{b.size[1]} elements showing the one with the largest "
                     "|custom − truth| (in all three panels)")
    outline = "blocks holding a wrong element" if b.size != (1, 1) else "wrong elements"
    lines.append(f"outlined in green: {outline} ({wrong_count} of {total} elements wrong)")
    if nonfinite:
        lines.append("dark grey: nan or inf")
    return "\n".join(lines)


def heatmaps(truth, custom, wrong, path: Path, *, title: str, labels: tuple[str, str] = ("truth", "custom"),
             subtitle: str = "", axes: tuple[str, str] | None = None) -> Path:
    """Write truth | custom | custom − truth for two tensors of one shape, `wrong` (a bool tensor of
    that shape, or None: none marked) outlined, to `path` (a PNG); returns the path. `subtitle`: a
    second title line (what the tensors are); `axes`: the (rows, columns) names, by default the
    tensor's dims."""
    t, c = array(truth), array(custom)
    if t.shape != c.shape:
        raise ValueError(f"truth has shape {t.shape} and custom {c.shape}: heatmaps need one shape")
    w = np.zeros(t.shape, dtype=bool) if wrong is None else array(wrong).astype(bool).reshape(t.shape)
    (t2, how), (c2, _), (w2, _) = matrix(t), matrix(c), matrix(w)
    b = blocks(t2, c2, w2)
    with np.errstate(invalid="ignore", over="ignore"):
        difference = b.custom - b.truth
    plt = pyplot()
    R, C = b.truth.shape
    height = 2.6 if R == 1 else 4.6
    fig, panels = plt.subplots(1, 3, figsize=(14, height), layout="constrained")
    same, names = _limit(b.truth, b.custom), axes or axis_names(t.ndim)
    _panel(fig, panels[0], b.truth, same, labels[0], b, names)
    _panel(fig, panels[1], b.custom, same, labels[1], b, names)
    _panel(fig, panels[2], difference, _limit(difference), f"{labels[1]} − {labels[0]}", b, names)
    nonfinite = not (np.isfinite(t).all() and np.isfinite(c).all())
    fig.suptitle(title + (f"\n{subtitle}" if subtitle else ""), fontsize=12)
    fig.text(0.01, -0.02, _caption(how, b, int(w.sum()), int(w.size), nonfinite), fontsize=9, va="top")
    return save(fig, path)
