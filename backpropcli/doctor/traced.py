"""Autograd's products through a forward's own ops, beside finite differences: the JVP by the
double-VJP trick, the fine-step cross-check that tells a kink from a wrong autograd, and the
fixed seed every forward call of the doctor runs under.

A kink. Central differences along a direction u with step t straddle a kink of a
piecewise-linear forward (leaky ReLU at 0, max where two elements are within t) for every
element closer to it than t, and there the difference is an average of the two slopes. With the
Richardson step (~6e-3 · max|x|) a 64×256 input has dozens of such elements, so autograd (which
is exact there) disagrees with the differences. A wrong autograd (a detached op, .numpy()) keeps
disagreeing at any step; a kink's disagreement shrinks with the step, with the number of
elements it straddles. So before autograd is distrusted the difference is taken again with a
plain central difference at FINE_STEP (1e-7 relative: ~0.005 straddled elements expected in
16,384 standard normal ones, rounding ~1e-9 relative per element, far below the agreement
tolerance in float64).

The JVP. J u = ∂/∂v ⟨Jᵀv, u⟩ at any v (the VJP is linear in v): one backward with create_graph
and one more, exact where autograd is, and never straddling a kink as differences do.

The seed. A forward that draws random numbers (a dropout mask from rand_like) is a different
function at every call unless every call draws the same numbers: each forward call of the doctor
runs under torch.random.fork_rng with manual_seed(FORWARD_SEED), which leaves the global stream
as it was (so a backward that draws its own numbers still draws new ones each time: that
nondeterminism is the bug the deterministic probe looks for).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from backpropcli.core import finite_diff

FINE_STEP = 1e-7  # relative to max(1, max|x|), along a direction of max-norm 1
FORWARD_SEED = 20261


_depth = [0]  # seeded() blocks open: an inner one leaves the outer's stream alone


@contextlib.contextmanager
def seeded() -> Iterator[None]:
    """The same random numbers for every forward call; the global generator left untouched.
    Inside another seeded() block it does nothing: the outer block's draws go on (a probe that
    asks whether a call consumed the generator sees it consumed)."""
    import torch

    if _depth[0]:
        yield
        return
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    _depth[0] += 1
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(FORWARD_SEED)
            yield
    finally:
        _depth[0] -= 1


def fine_directional(value: Callable[[list], tuple], base: list, j: int, direction) -> tuple:
    """J_j·direction by one plain central difference at the fine step (no extrapolation)."""
    import torch

    x = base[j]
    size = float(direction.abs().max()) if direction.numel() else 0.0
    if size == 0:
        return tuple(torch.zeros_like(o) for o in value(base))
    reach = max(1.0, float(x.abs().max()) if x.numel() else 0.0)
    t = FINE_STEP * reach / size

    def moved(s: float) -> tuple:
        shifted = list(base)
        shifted[j] = x + s * direction
        return value(shifted)

    return finite_diff.along(moved, t, extrapolations=0)[0]


def fine_jvp(value: Callable[[list], tuple], leaves: dict[str, Any], diff: tuple[int, ...], n_out: int):
    """tangents {name: u} -> J u per output (None for a non-differentiable one), at the fine step."""
    names = list(leaves)
    base = [leaves[n].detach() for n in names]

    def jvp(tangents: dict[str, Any]) -> tuple:
        total: list | None = None
        for j, n in enumerate(names):
            if n in tangents:
                part = fine_directional(value, base, j, tangents[n])
                total = list(part) if total is None else [a + b for a, b in zip(total, part)]
        per = dict(zip(diff, total or [None] * len(diff)))
        return tuple(per.get(k) for k in range(n_out))

    return jvp


def autograd_jvp(call: Callable[[dict[str, Any]], tuple], leaves: dict[str, Any], diff: tuple[int, ...],
                 fallback: Callable):
    """tangents {name: u} -> J u per output (None for one not in ``diff``) through autograd of
    ``call`` (the double-VJP trick); ``fallback`` (differences) where autograd cannot
    differentiate its own VJP."""
    import torch

    names = list(leaves)

    def jvp(tangents: dict[str, Any]) -> tuple:
        try:
            return _double_vjp(call, leaves, names, tangents)
        except Exception:  # an op whose backward is not differentiable in the cotangent
            return fallback(tangents)

    def _double_vjp(call, leaves, names, tangents) -> tuple:
        fresh = {n: leaves[n].detach().clone().requires_grad_(True) for n in names}
        with torch.enable_grad():
            outs = call(fresh)
            live = [k for k in diff if outs[k].requires_grad]
            vs = {k: torch.zeros_like(outs[k]).requires_grad_(True) for k in live}
            used = [n for n in names if n in tangents]
            if not live or not used:
                return tuple(torch.zeros_like(outs[k]).detach() if k in diff else None for k in range(len(outs)))
            grads = torch.autograd.grad([outs[k] for k in live], [fresh[n] for n in used], [vs[k] for k in live],
                                        create_graph=True, allow_unused=True)
            inner = sum(((g * tangents[n].to(g.dtype)).sum() for n, g in zip(used, grads) if g is not None),
                        torch.zeros((), dtype=torch.float64))
            back = torch.autograd.grad(inner, [vs[k] for k in live], allow_unused=True) if inner.requires_grad \
                else (None,) * len(live)
        per = {k: (b.detach() if b is not None else torch.zeros_like(outs[k]).detach()) for k, b in zip(live, back)}
        return tuple(per.get(k, torch.zeros_like(outs[k]).detach()) if k in diff else None for k in range(len(outs)))

    return jvp
