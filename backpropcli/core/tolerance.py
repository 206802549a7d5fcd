"""The one tolerance model: how close a derivative must be to its truth, and how many digits it lost.

A derivative is judged against a truth of one of two kinds:

    exact      a closed form or sympy's derivative, evaluated at 50 digits (grad, hessian)
    numerical  autograd through the forward's own ops, or extrapolated finite differences,
               in float64 (check, manual): itself only good to ~1e-10, so the rtol is looser

The relative tolerance depends on that kind, on the dtype the derivative was computed in,
and on its order (a second derivative by finite differences is a difference of differences).
`close` is the elementwise verdict on tensors (check, manual).

The scalar verdict against an exact truth (grad, hessian), `within`, is one rule:

    ok  <=>  |value - truth| <= rtol·|truth| + 8u·C + floor

with u the dtype's unit roundoff, C = sum over the inputs w (the variables, the parameters, the
float constants) of |w·∂truth/∂w| — how far rounding each input once moves the truth — and floor
the smallest normal number of the dtype, only where the truth is 0 or subnormal. C is a property
of the function at the point, not of how a graph computes it: near a zero of the derivative,
where even a perfect implementation has a large relative error (quad's 2ax + by at x = 0.1,
y = -0.2000001), C is of the size of the terms of the function, and it allows what rounding the
inputs alone causes; sin(x)/x's f' at x = 1e-8 is -3.3e-9 and x·f'' is 3.3e-9 too, so an
autograd of 0 there is FAILED. The size of the terms a graph cancels explains a loss of digits
(expressions/precision.py); it never enters this rule.

`digits_lost` measures an error in the same yardstick, log10(error / (u·allowance/rtol)), so that
more than log10(rtol/u) digits (5.95 in float64) are lost exactly where the verdict fails.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

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
ROUNDINGS = 8  # c in the rule: roundings of each input a correct implementation may be off by

# Agreement between two float64 computations of the same numbers, mostly inside `check` (not a verdict
# against a truth: a test that two routes to one quantity meet), relative to the size of the
# terms involved; each far below what a bug moves (O(1)) and far above float64 rounding of sums.
AGREEMENT: dict[str, float] = {
    "same-numbers": 1e-9,  # one quantity computed twice (a view, a copy, a batch): rounding only
    "dot-product": 1e-6,  # ⟨Jᵀv, u⟩ against ⟨v, J u⟩ by differences: the difference's own error
    "autograd-and-differences": 1e-6,  # autograd through forward against differences, the truth's test
    "forward-ad": 1e-7,  # J·u by forward AD against the truth's: products agree to ~1e-15
    "hessian-products": 1e-6,  # u_aᵀ H u_b of torch.func against the truth's second derivative
    "second-by-differences": 1e-5,  # H·u by extrapolated differences of the custom first derivative
    "elementwise": 1e-8,  # perturbing one element moves only its own output (elementwise detection)
    "collinear": 1e-9,  # points given to grad lie on one line (the figure draws along it)
}


def agreement(purpose: str) -> float:
    """The relative tolerance of one of the agreement tests (AGREEMENT), in float64."""
    return AGREEMENT[purpose]


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


def floor(ref: float, dtype: str) -> float:
    """The absolute floor: the smallest normal number of the dtype where the truth is 0 or subnormal, else 0."""
    tiny = limits(dtype)[1]
    return tiny if abs(ref) < tiny else 0.0


def allowance(ref: float, conditioning: float, dtype: str, tolerance: float | None = None) -> float:
    """rtol·|ref| + 8u·C + floor: the largest error the verdict accepts (C: see the module docstring)."""
    u = limits(dtype)[0]
    relative = rtol(dtype) if tolerance is None else tolerance
    return relative * abs(ref) + ROUNDINGS * u * abs(conditioning) + floor(ref, dtype)


def within(value: float, ref: float, conditioning: float, dtype: str, tolerance: float | None = None) -> bool:
    """|value - ref| <= rtol·|ref| + 8u·C + floor. A value that is not finite is right only where the
    truth, held in the dtype, is that value too (quad at x = 1e200 overflows float64, as its truth)."""
    if not math.isfinite(value) or not math.isfinite(as_dtype(ref, dtype)):
        return value == as_dtype(ref, dtype)
    return abs(value - ref) <= allowance(ref, conditioning, dtype, tolerance)


def needs_conditioning(value: float, ref: float, dtype: str) -> bool:
    """Whether C matters for this value: it lost more than 2 digits by the strict measure (C = 0). Below
    that, C changes neither the verdict nor the shown digits by much, and is not worth computing."""
    if not (math.isfinite(value) and math.isfinite(ref)):
        return False
    u = limits(dtype)[0]
    return abs(value - ref) > 100 * u * abs(ref) + floor(ref, dtype)


def verdict_digits(dtype: str) -> float:
    """log10(rtol/u): a derivative that lost more digits than this fails (5.95 in float64)."""
    return math.log10(rtol(dtype) / limits(dtype)[0])


def digits_lost(value: float, ref: float, conditioning: float, dtype: str) -> float:
    """Decimal digits lost against the truth: log10(error / (u·allowance/rtol)), from 0 to all of them.

    allowance/rtol is |ref| + (8u/rtol)·C (+ floor/rtol): the verdict's own yardstick, so more than
    log10(rtol/u) digits are lost exactly where `within` fails. A nan, or an inf where the truth is
    finite, lost all.
    """
    u = limits(dtype)[0]
    every = -math.log10(u)
    held = as_dtype(ref, dtype)
    if value == held:
        return 0.0
    if not (math.isfinite(value) and math.isfinite(held)):
        return every
    error = abs(value - ref)
    if error == 0:
        return 0.0
    ratio = error / (u * (allowance(ref, conditioning, dtype) / rtol(dtype)))
    return 0.0 if ratio == 0 else min(every, max(0.0, math.log10(ratio)))  # 0: an infinite C


@dataclass(frozen=True)
class Rule:
    """The rule for one dtype with its constants looked up once: `judge` gives what
    needs_conditioning, within and digits_lost give, in one call instead of about fifteen
    (grad on 10^5 points judges half a million values)."""

    dtype: str
    u: float
    tiny: float
    rtol: float
    every: float  # all the digits: -log10(u)

    def judge(self, value: float, ref: float, conditioning: Callable[[], float]) -> tuple[bool, float, float | None]:
        """(ok, digits lost, C or None where it was not needed); ``conditioning()`` measures C."""
        held = ref if self.dtype == "float64" or not math.isfinite(ref) else as_dtype(ref, self.dtype)
        floor = self.tiny if abs(ref) < self.tiny else 0.0
        error = abs(value - ref)
        finite_value = math.isfinite(value)
        cond = conditioning() if finite_value and math.isfinite(ref) and \
            error > 100 * self.u * abs(ref) + floor else None
        if not (finite_value and math.isfinite(held)):
            return value == held, 0.0 if value == held else self.every, cond
        allowed = self.rtol * abs(ref) + ROUNDINGS * self.u * abs(cond or 0.0) + floor
        if value == held or error == 0:
            return error <= allowed, 0.0, cond
        ratio = error / (self.u * (allowed / self.rtol))  # in this order: u·allowed may underflow
        return error <= allowed, 0.0 if ratio == 0 else min(self.every, max(0.0, math.log10(ratio))), cond

    def judge_many(self, values, truths) -> Pair:
        """`judge` for whole columns at once, where it needs no C: ``simple`` marks the values that
        are finite, whose truths are finite as the dtype holds them and that lost at most 2 digits
        by the strict measure (needs_conditioning false); there ok <=> error <= rtol·|truth| + floor
        and digits lost as `judge` says. Elsewhere ``ok`` and ``lost`` mean nothing: ask `judge`."""
        import numpy as np

        v, t = np.asarray(values, dtype=float), np.asarray(truths, dtype=float)
        held = t if self.dtype == "float64" else _held_many(t, self.dtype)
        with np.errstate(all="ignore"):
            size, error = np.abs(t), np.abs(v - t)
            floor = np.where(size < self.tiny, self.tiny, 0.0)
            simple = np.isfinite(v) & np.isfinite(held) & (error <= 100 * self.u * size + floor)
            allowed = self.rtol * size + floor
            ratio = error / (self.u * (allowed / self.rtol))
            lost = np.where((v == held) | (ratio == 0), 0.0, np.clip(np.log10(ratio), 0.0, self.every))
        return Pair(error <= allowed, lost, simple)


@dataclass
class Pair:
    """A column judged against its truths by `Rule.judge_many` (numpy arrays of bools and floats)."""

    ok: Any
    lost: Any
    simple: Any  # where the rule needed no C: only there do ok and lost hold


def _held_many(truths, dtype: str):
    """as_dtype for a numpy array: the truths as the dtype holds them (inf beyond its range)."""
    import torch

    return torch.from_numpy(truths).to(getattr(torch, dtype)).to(torch.float64).numpy()


@functools.cache
def rule(dtype: str) -> Rule:
    u, tiny = limits(dtype)
    return Rule(dtype, u, tiny, rtol(dtype), -math.log10(u))


def relative(error: float, ref: float) -> float:
    """error / |ref|; at a zero truth, 0 for no error and inf for any other."""
    if ref != 0:
        return error / abs(ref)
    return error if math.isnan(error) or error == 0 else math.inf


def errors_many(values, truths) -> tuple[list[float], list[float]]:
    """|value - truth| (a shared inf: no error) and `relative` of it, for whole columns at once."""
    import numpy as np

    v, t = np.asarray(values, dtype=float), np.asarray(truths, dtype=float)
    with np.errstate(all="ignore"):
        error = np.where(v == t, 0.0, np.abs(v - t))
        at_zero = np.where(np.isnan(error) | (error == 0), error, np.inf)
        return error.tolist(), np.where(t != 0, error / np.abs(t), at_zero).tolist()


def close(a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float | torch.Tensor) -> torch.Tensor:
    """Elementwise |a - b| <= rtol·|b| + atol; equal values (a shared inf) are close, a nan never is."""
    return ((a - b).abs() <= rtol * b.abs() + atol) | (a == b)


def scale_of(t: torch.Tensor) -> float:
    """The largest finite magnitude in ``t`` (0 when it has none)."""
    import torch

    finite = t[torch.isfinite(t)]
    return float(finite.abs().max()) if finite.numel() else 0.0
