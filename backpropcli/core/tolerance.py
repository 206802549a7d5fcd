"""The one tolerance model: how close a derivative must be to its truth, and how many digits it lost.

A derivative is judged against a truth of one of two kinds:

    exact      a closed form or sympy's derivative, evaluated at 50 digits (grad, hessian)
    numerical  autograd through the forward's own ops, or extrapolated finite differences,
               in float64 (check, manual): itself only good to ~1e-10, so the rtol is looser

The relative tolerance depends on that kind, on the dtype the derivative was computed in,
and on its order (a second derivative by finite differences is a difference of differences).
`within` is the scalar verdict, `close` the elementwise one on tensors; `digits_lost` measures
an error in the same yardstick, so that more than log10(rtol/u) digits are lost exactly where
the verdict fails.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

TruthKind = Literal["exact", "numerical"]

# rtol[kind][dtype][order]
RTOL: dict[str, dict[str, dict[int, float]]] = {
    "exact": {
        "float64": {1: 1e-10, 2: 1e-10},
        "float32": {1: 1e-5, 2: 1e-5},
        "float16": {1: 2e-3, 2: 2e-3},
        "bfloat16": {1: 1.6e-2, 2: 1.6e-2},
    },
    "numerical": {
        "float64": {1: 1e-6, 2: 1e-4},
        "float32": {1: 1e-3, 2: 1e-2},
        "float16": {1: 1e-2, 2: 5e-2},
        "bfloat16": {1: 5e-2, 2: 1e-1},
    },
}
YARDSTICK_ULPS = 8  # rounding errors of the cancelling terms a verdict allows for near a zero


def rtol(dtype: str, order: int = 1, kind: TruthKind = "exact") -> float:
    """The relative tolerance of a derivative of ``order`` computed in ``dtype`` against a truth of ``kind``."""
    try:
        return RTOL[kind][dtype][order]
    except KeyError:
        raise ValueError(f"no tolerance for a {kind} truth of order {order} in {dtype}") from None


@functools.cache
def limits(dtype: str) -> tuple[float, float]:
    """(unit roundoff u, smallest normal number) of a dtype."""
    import torch

    info = torch.finfo(getattr(torch, dtype))
    return info.eps / 2, info.tiny


def as_dtype(ref: float, dtype: str) -> float:
    """The true value as the dtype holds it: inf beyond its range (6e40 in float32), as in float64 at 1e400."""
    if dtype == "float64" or not math.isfinite(ref):
        return ref
    import torch

    return torch.tensor(ref, dtype=getattr(torch, dtype)).item()


def within(value: float, ref: float, scale: float, dtype: str, tolerance: float | None = None) -> bool:
    """|value - ref| <= rtol*|ref| + 8u*scale + tiny.

    The scale term (8 units in the last place of the cancelling terms) handles
    points near a zero of the quantity, where relative error means nothing; the
    tiny term (smallest normal number) handles true values that underflow. An
    overflow that the true value shares is right (quad at x = 1e200 in float64).
    """
    u, tiny = limits(dtype)
    if not math.isfinite(value):
        return value == as_dtype(ref, dtype)
    relative = rtol(dtype) if tolerance is None else tolerance
    return abs(value - ref) <= relative * abs(ref) + YARDSTICK_ULPS * u * abs(scale) + tiny


def digits_lost(value: float, ref: float, scale: float, dtype: str) -> float:
    """Decimal digits lost against the truth: log10(error / (u·yardstick)), from 0 to all of them.

    The yardstick is the tolerance's own, |ref| + (8u/rtol)·scale: near a zero of the quantity
    the size of its cancelling terms weighs as in `within`, so more than log10(rtol/u) digits
    (6 in float64) are lost exactly where the verdict fails. A nan, or an inf where the truth
    is finite, lost all.
    """
    u, tiny = limits(dtype)
    every = -math.log10(u)
    ref = as_dtype(ref, dtype)
    if value == ref:
        return 0.0
    if not (math.isfinite(value) and math.isfinite(ref)):
        return every
    error = abs(value - ref) / max(abs(ref) + YARDSTICK_ULPS * u / rtol(dtype) * abs(scale), tiny)
    return min(every, max(0.0, math.log10(error / u))) if error > 0 else 0.0


def relative(error: float, ref: float) -> float:
    """error / |ref|; at a zero truth, 0 for no error and inf for any other."""
    if ref != 0:
        return error / abs(ref)
    return error if math.isnan(error) or error == 0 else math.inf


def close(a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float | torch.Tensor) -> torch.Tensor:
    """Elementwise |a - b| <= rtol·|b| + atol; equal values (a shared inf) are close, a nan never is."""
    return ((a - b).abs() <= rtol * b.abs() + atol) | (a == b)


def scale_of(t: torch.Tensor) -> float:
    """The largest finite magnitude in ``t`` (0 when it has none)."""
    import torch

    finite = t[torch.isfinite(t)]
    return float(finite.abs().max()) if finite.numel() else 0.0
