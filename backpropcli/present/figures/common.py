"""What every figure shares: matplotlib on Agg, axes that survive data near ±1e308, atomic PNGs."""

from __future__ import annotations

import contextlib
from pathlib import Path

from backpropcli.io.files import write_atomic
from backpropcli.present.fmt import fixed

DPI = 150
VALUE_COLOR, GRAD_COLOR, EDGE_COLOR, EDGE_TEXT = "#1f1f1f", "#c0392b", "#7f8c8d", "#2c3e50"


def pyplot():
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
def huge_values_allowed(fig):
    """Tame the axes (above) and silence matplotlib's own overflow warnings in hi - lo."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        _tame_huge_axes(fig)
        yield


TEXT_KEY = "Smallest text px"  # the PNG's tEXt entry: its smallest text, in the image's own pixels


def smallest_text_px(fig) -> float:
    """The smallest font among the figure's visible texts (titles, labels, ticks, legends, notes),
    in pixels of the saved image: how small the text gets when a page shrinks the picture."""
    import warnings

    from matplotlib.text import Text

    with warnings.catch_warnings():  # walking the ticks of an axis near ±1e308 warns in numpy's isclose
        warnings.simplefilter("ignore", RuntimeWarning)
        sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=10.0) * DPI / 72


def save(fig, path: Path) -> Path:
    plt = pyplot()
    try:
        with huge_values_allowed(fig):
            metadata = {TEXT_KEY: f"{fixed(smallest_text_px(fig), 2)}"}
            return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight",
                                                              metadata=metadata))
    finally:
        plt.close(fig)


def png_facts(data: bytes) -> tuple[int, float | None]:
    """(width in pixels, smallest text px) of a PNG written by save(); None where it does not say."""
    import struct

    width = struct.unpack(">I", data[16:20])[0]
    at, text = 8, None
    while at + 8 <= len(data):  # chunks: length, type, data, crc
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"tEXt" and body.startswith(TEXT_KEY.encode() + b"\0"):
            text = float(body.split(b"\0", 1)[1])
        elif kind == b"IDAT":
            break  # text chunks come first here
        at += 12 + length
    return width, text



MAX_DRAWN = 20_000  # points per curve: more only costs memory and time (10^8 losses would take GBs)


def stride(n: int) -> int:
    """Draw every stride-th point so that a curve has at most MAX_DRAWN."""
    return max(1, -(-n // MAX_DRAWN))
