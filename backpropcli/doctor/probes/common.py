"""What every probe does: call the subject under a fixed seed, take a custom VJP, compare with the truth.

Products, never Jacobians: a probe draws signed random directions (a cotangent per differentiable
output, a tangent per differentiable input), so its cost is a handful of forward and backward
calls whatever the inputs' sizes. Every call of the user's Function is counted in ``ctx.cost``.

Each call runs under the same seed (``seeded``) so a Function that draws random numbers in forward
(a dropout that saves its mask) gives the same outputs every time; the user's global random state
is restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch

from backpropcli.core import tolerance
from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.results import Capability, Finding

# the doctor's one seed for every forward call (the main comparison's too: a random forward draws
# the same numbers in a probe as in the truth); nested, the outer one holds
from backpropcli.doctor.traced import seeded

# second derivatives lose more digits than first ones: the doctor's first-derivative tolerance
# times this is still far below an O(1) relative error, which is what a real bug makes
SECOND_ORDER = 100.0
# products compared against another computation of the same numbers in float64 (eager vs
# compiled, strided vs contiguous, batched vs one at a time): agreement to ~1e-9 of their scale


def one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def random_like(t: torch.Tensor, seed: int) -> torch.Tensor:
    """A signed standard-normal direction with t's shape, dtype and device (drawn on the CPU in
    float64 from its own generator, so it does not depend on the device or the global state)."""
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(tuple(t.shape), generator=g, dtype=torch.float64)
    dtype = t.dtype if t.is_floating_point() or t.is_complex() else torch.float64
    return r.to(dtype=dtype, device=t.device)


def cotangents(outputs: tuple, seed: int) -> tuple:
    """One random cotangent per differentiable output, None for the others."""
    from backpropcli.doctor.subject import Subject

    diff = set(Subject.differentiable_outputs(outputs))
    return tuple(random_like(o, seed + 7919 * k) if k in diff else None for k, o in enumerate(outputs))


def tangents(ctx: ProbeContext, seed: int, only: str | None = None) -> dict[str, torch.Tensor]:
    """A random tangent for every differentiable input (zeros except ``only`` when given)."""
    out = {}
    for k, name in enumerate(ctx.subject.differentiable):
        base = ctx.leaves[name]
        u = random_like(base, seed + 104729 * k)
        out[name] = u if only is None or name == only else torch.zeros_like(u)
    return out


def fresh(ctx: ProbeContext, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """New leaves with the main comparison's values (optionally cast)."""
    return ctx.subject.leaves(dtype=dtype, values={k: v.detach() for k, v in ctx.leaves.items()})


def device(ctx: ProbeContext) -> Any:
    """The --device the inputs that are not leaves are moved to (None: where they are)."""
    return ctx.options.get("device")


def call(ctx: ProbeContext, leaves: Mapping[str, Any], dtype: torch.dtype | None = None) -> tuple:
    """The Function at these leaves, its custom backward recorded; one forward call counted."""
    ctx.cost.forward_calls += 1
    with seeded():
        return ctx.subject.call(leaves, dtype=dtype, device=device(ctx))


def draws_random(ctx: ProbeContext, leaves: Mapping[str, Any]) -> bool:
    """Whether a call consumes the random generator (a dropout): then calls that lay out memory
    differently draw different numbers, and their values are not comparable. One forward call."""
    ctx.cost.forward_calls += 1
    where = next((v.device for v in leaves.values()), torch.device("cpu"))
    with seeded(), torch.no_grad():
        before = _rng_state(where)
        ctx.subject.call(leaves, device=device(ctx))
        return not torch.equal(before, _rng_state(where))


def _rng_state(device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return torch.cat([torch.random.get_rng_state(), torch.cuda.get_rng_state(device)])
    return torch.random.get_rng_state()


def vjp(ctx: ProbeContext, leaves: Mapping[str, torch.Tensor], outputs: tuple, cots: tuple,
        *, retain: bool = False, create: bool = False) -> dict[str, torch.Tensor]:
    """Jᵀv through the recorded graph (the custom backward); None gradients become zeros."""
    pairs = [(o, c) for o, c in zip(outputs, cots) if c is not None]
    names = list(leaves)
    if not pairs:  # no differentiable output: nothing flows back
        return {n: torch.zeros_like(leaves[n]) for n in names}
    ctx.cost.backward_calls += 1
    grads = torch.autograd.grad([o for o, _ in pairs], [leaves[n] for n in names], [c for _, c in pairs],
                                retain_graph=retain or create, create_graph=create, allow_unused=True)
    return {n: torch.zeros_like(leaves[n]) if g is None else g for n, g in zip(names, grads)}


def good(ctx: ProbeContext, got: torch.Tensor | None, want: torch.Tensor, name: str,
         factor: float = 1.0) -> bool:
    """got within the doctor's per-element tolerance (times ``factor``) of the truth at every
    element where the truth is finite."""
    if got is None:
        got = torch.zeros_like(want)
    if tuple(got.shape) != tuple(want.shape):
        return False
    got, want = got.detach().to(torch.float64), want.detach().to(torch.float64)
    tol = torch.as_tensor(ctx.tolerance(want, name), dtype=torch.float64, device=want.device) * factor
    known = torch.isfinite(want)
    return bool(((got - want).abs() <= tol)[known].all()) and bool(torch.isfinite(got[known]).all())


def agree(a: Any, b: Any, rtol: float | None = None) -> bool:
    """Two computations of the same numbers agree: |a − b| ≤ rtol·(|b| + max|b|), nan where both
    are nan. Non-tensors must be equal."""
    if not isinstance(b, torch.Tensor) or not isinstance(a, torch.Tensor):
        return bool(a == b)
    if tuple(a.shape) != tuple(b.shape):
        return False
    if not (b.is_floating_point() or b.is_complex()):
        return bool(torch.equal(a, b))
    a, b = a.detach().to(torch.float64), b.detach().to(torch.float64)
    scale = float(b[torch.isfinite(b)].abs().max()) if bool(torch.isfinite(b).any()) else 0.0
    rtol = tolerance.agreement("same-numbers") if rtol is None else rtol
    close = tolerance.close(a, b, rtol, rtol * scale + tolerance.limits("float64")[1])  # a shared inf is close
    return bool((close | (torch.isnan(a) & torch.isnan(b))).all())


def max_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    d = (a.detach().to(torch.float64) - b.detach().to(torch.float64)).abs()
    d = d[torch.isfinite(d)]
    return float(d.max()) if d.numel() else 0.0


# ---- torch's own limitations: warnings, never errors ---------------------------------------------

def limitation(ctx: ProbeContext, e: BaseException, vmapped: str = "") -> tuple[str, Finding | None]:
    """Why a transform refused the Function, and the warning that names it when it is a known
    limitation of torch (no setup_context, no vmap rule, no jvp, an op that vmap cannot batch in
    the vmapped ``"forward"`` or ``"backward"``); (the one-line error, None) otherwise."""
    text = str(e)
    if "setup_context" in text:
        return "needs setup_context (old-style forward(ctx, ...))", \
            Finding("no-setup-context", extra={"name": ctx.subject.name})
    if "generate_vmap_rule" in text or "vmap staticmethod" in text or "does not have vmap support" in text:
        return "no vmap rule", Finding("no-vmap-rule", extra={"why": "no vmap staticmethod and "
                                                               "generate_vmap_rule is not set"})
    if "jvp" in text and ("implement" in text or "forward mode" in text or "forward-mode" in text):
        return "no jvp staticmethod", Finding("no-jvp", extra={"why": "no jvp staticmethod"})
    if "forward AD" in text and "not support" in text:  # an op without a forward-mode formula
        return "an op has no forward-mode formula", Finding("no-jvp", extra={"why": one_line(e)})
    if vmapped and text.lstrip().startswith("vmap"):
        # an op vmap cannot batch (in-place on a fresh tensor, .item(), data-dependent flow)
        code = "no-batched-grad" if vmapped == "backward" else "no-vmap-rule"
        return f"{vmapped} cannot be vmapped", Finding(code, extra={"why": one_line(e)})
    return one_line(e), None


def row(name: str, ok: bool | None, detail: str, compared_with: str,
        findings: list[Finding] | None = None) -> ProbeResult:
    return ProbeResult(Capability(name, ok, detail, compared_with), list(findings or []))


def refused(name: str, ctx: ProbeContext, e: BaseException, compared_with: str, vmapped: str = "") -> ProbeResult:
    """The row of a transform that raised: a known limitation is a warning and the row is None
    (not applicable), anything else is a failure of the Function under the transform."""
    why, finding = limitation(ctx, e, vmapped)
    if finding is not None:
        return row(name, None, f"not supported: {why}", compared_with, [finding])
    return row(name, False, f"raises {why}", compared_with)


def wrong_first(ctx: ProbeContext) -> list[str]:
    return [n for n, ok in ctx.first_ok.items() if not ok]


def saved_of(outputs: tuple) -> list[torch.Tensor]:
    """The tensors a custom Function's node holds for backward: ctx.saved_tensors and tensors kept
    as ctx attributes. Empty for a plain callable's node or when they cannot be read."""
    from backpropcli.doctor.subject import Subject

    diff = Subject.differentiable_outputs(outputs)
    node = outputs[diff[0]].grad_fn if diff else None
    if node is None:
        return []
    found: list[torch.Tensor] = []
    with contextlib.suppress(Exception):
        found += [t for t in node.saved_tensors if isinstance(t, torch.Tensor)]
    with contextlib.suppress(Exception):
        found += [t for t in vars(node).values() if isinstance(t, torch.Tensor)]
    return found


def same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise-equal values (nan equal to nan): an in-place change, however small, shows."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(torch.equal(a, b) or ((a == b) | (a.isnan() & b.isnan())).all()) if a.is_floating_point() \
        else bool(torch.equal(a, b))


def shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    try:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    except Exception:
        return a is b
