"""The memory budget: every accepted input finishes within it, or is refused before the work starts.

The default is 2 GB of resident memory (RSS); `--max-memory 8GB` or the
environment variable BACKPROP_MAX_MEMORY raises (or lowers) it. A run's need is
estimated from its size with per-point and per-step costs measured on this
code (README, "Reliability"): the interpreter with torch, mpmath and
matplotlib loaded, plus
  grad:     ~5 KB a point (one variable), ~6 KB (two); ~18 KB more with --all (the full table)
  hessian:  ~7 KB a point (one variable; an expression measured 7.5 KB), ~11 KB (two)
  regress:  ~10 bytes a step (the loss history is an array of float64),
            ~200 bytes a data row, ~3 KB a row with --trace or --graph (the trace holds every
            node's values for every row)
The estimates carry a 25 % margin; JSON is streamed, so it adds nothing.
"""

from __future__ import annotations

import os
import re

from backpropcli.errors import InputError
from backpropcli.present.fmt import num

DEFAULT = 2_000_000_000
ENV = "BACKPROP_MAX_MEMORY"
BASE = 400_000_000  # python + torch + mpmath + matplotlib, measured ~290 MB
MARGIN = 1.25

UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
         "T": 10**12, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str) -> int:
    """'2GB', '500MB', '1.5G', '3000000000' -> bytes (K/M/G are powers of 1000, KiB/MiB/GiB of 1024)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", text)
    unit = match and match.group(2).upper()
    if not match or unit not in UNITS:
        raise ValueError(f"{text!r} is not a size such as 2GB, 500MB or 8GiB")
    size = int(float(match.group(1)) * UNITS[unit])
    if size <= 0:
        raise ValueError(f"{text!r}: the memory budget must be positive")
    return size


def limit(given: str | None = None) -> int:
    """The budget: --max-memory if given, else BACKPROP_MAX_MEMORY, else 2 GB."""
    if given is not None:
        try:
            return parse_size(given)
        except ValueError as exc:
            raise InputError(f"option --max-memory: {exc}") from None
    env = os.environ.get(ENV)
    if env:
        try:
            return parse_size(env)
        except ValueError as exc:
            raise InputError(f"environment variable {ENV}: {exc}") from None
    return DEFAULT


def human(size: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{num(size / scale, 3)} {unit}"
    return f"{num(size / 1e3, 3)} KB"


def require(need: float, budget: int, what: str, fewer: str) -> None:
    """Refuse a run whose estimated need is over the budget, saying how to go past it."""
    need = BASE + MARGIN * need
    if need > budget:
        raise InputError(f"{what} needs about {human(need)} of memory, over the {human(budget)} budget; "
                         f"use {fewer}, or allow more with --max-memory {_suggest(need)} "
                         f"(or {ENV}={_suggest(need)})")


def _suggest(need: float) -> str:
    return f"{max(1, -(-int(need) // 10**9))}GB"


def check_points(points: int, variables: int, order: int, show_all: bool, budget: int) -> None:
    """grad (order 1) / hessian (order 2) at `points` points of `variables` variables."""
    per_point = (3_000 + 1_500 * variables) if order == 1 else (6_000 + 1_200 * variables**2)
    if show_all:
        per_point += 18_000
    command = "grad" if order == 1 else "hessian"
    what = f"{command} at {points} point{'s' if points != 1 else ''}"
    require(points * per_point, budget, what, "fewer points (--x, --y)" + (" or leave out --all" if show_all else ""))


def check_regression(iters: int, rows: int, traced: bool, budget: int) -> None:
    """regress: `iters` steps on `rows` data rows; `traced` with --trace or --graph."""
    need = 10 * iters + 200 * rows + (3_000 * rows if traced else 0)
    what = f"regress with {iters} steps on {rows} rows" + (" and a trace" if traced else "")
    fewer = "fewer --iters or data rows" + (" (or no --trace/--graph)" if traced else "")
    require(need, budget, what, fewer)
