"""Finite differences of a function of tensors of any shape: central differences, Richardson-extrapolated.

Everything here is one computation, the central difference along a shift s of input j,

    D(s) = (f(..., x_j + s, ...) - f(..., x_j - s, ...)) / 2   ≈   J_j s + O(|s|³),

halved and extrapolated `extrapolations` times (Richardson: each level removes the next even
power of the step). Two readings of J_j s:

* `partials`: s = h, one step per element, and the result divided by h elementwise: the
  derivative of each output element with respect to the same element of x_j. Exact only when
  f is elementwise in x_j (grad's points, a pointwise activation).
* `directional`: s = t·u for a direction u and a scalar step t, divided by t: the
  Jacobian-vector product J_j u, for any f. `along` is the same for a function of the step
  itself (several inputs moved at once: the Hessian-vector product of `check`'s second probe).

The step balances truncation (h^(2k+2) for k extrapolations) against rounding (u/h):
h = eps^(1/(2k+3)) · max(1, |x|), so ~6e-6 relative for a plain central difference (error
~1e-11) and ~6e-3 for two extrapolations (~1e-13). Steps are rounded so that x + h is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Outputs = tuple["torch.Tensor", ...]
Function = Callable[[list["torch.Tensor"]], Outputs]  # f(inputs) -> outputs, run without grad


def relative_step(dtype: torch.dtype, extrapolations: int) -> float:
    """The step relative to max(1, |x|) that balances truncation and rounding."""
    import torch

    return float(torch.finfo(dtype).eps ** (1 / (2 * extrapolations + 3)))


def _difference(f: Function, inputs: list[torch.Tensor], j: int, shift: torch.Tensor) -> Outputs:
    """(f(x_j + shift) - f(x_j - shift)) / 2, one tensor per output."""
    up, down = list(inputs), list(inputs)
    up[j], down[j] = inputs[j] + shift, inputs[j] - shift
    return tuple((a - b) / 2 for a, b in zip(f(up), f(down)))


def _extrapolate(levels: list[Outputs]) -> Outputs:
    """Richardson: estimates at steps h, h/2, h/4, ... with errors c2·h² + c4·h⁴ + ...; each
    pass (4^m·fine - coarse)/(4^m - 1) removes the next even power."""
    for m in range(1, len(levels)):
        factor = 4**m
        levels = [tuple((factor * fine - coarse) / (factor - 1) for fine, coarse in zip(levels[k + 1], levels[k]))
                  for k in range(len(levels) - 1)]
    return levels[0]


def partials(f: Function, inputs: Sequence[torch.Tensor], j: int, extrapolations: int = 0) -> Outputs:
    """d(output)/d(inputs[j]) element by element: right when f is elementwise in inputs[j]."""
    import torch

    inputs = [t.detach() for t in inputs]
    x = inputs[j]
    h = relative_step(x.dtype, extrapolations) * torch.clamp_min(x.abs(), 1)
    levels = []
    for k in range(extrapolations + 1):
        s = (x + h / 2**k) - x  # exactly representable: x ± s is exact, and the divisor is the true step
        levels.append(tuple(d / s for d in _difference(f, inputs, j, s)))
    return _extrapolate(levels)


def directional(f: Function, inputs: Sequence[torch.Tensor], j: int, direction: torch.Tensor,
                extrapolations: int = 2) -> Outputs:
    """J_j·direction, the derivative of f along ``direction`` in inputs[j], for any f."""
    import torch

    inputs = [t.detach() for t in inputs]
    x = inputs[j]
    size = float(direction.abs().max()) if direction.numel() else 0.0
    if size == 0:
        return tuple(torch.zeros_like(o) for o in f(inputs))
    reach = max(1.0, float(x.abs().max()) if x.numel() else 0.0)
    t = relative_step(x.dtype, extrapolations) * reach / size

    def moved(s: float) -> Outputs:
        shifted = list(inputs)
        shifted[j] = x + s * direction
        return f(shifted)

    return along(moved, t, extrapolations)[0]


def along(g: Callable[[float], tuple[Any, ...]], t: float, extrapolations: int = 2) -> tuple[Any, list[Any]]:
    """d/ds g(s) at s = 0, for g of a scalar step (inputs moved together along a direction):
    (g(s) - g(-s))/2s at s = t, t/2, ..., extrapolated; and those levels, coarse to fine (the
    spread of the last two is the caller's estimate of the error). g's outputs are tensors or floats."""
    levels = []
    for k in range(extrapolations + 1):
        s = t / 2**k
        levels.append(tuple((a - b) / 2 / s for a, b in zip(g(s), g(-s))))
    return _extrapolate(levels), levels
