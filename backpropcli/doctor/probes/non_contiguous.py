"""non-contiguous: strided inputs give the same values and gradients as contiguous ones.

Each differentiable input with a dimension longer than 1 is handed over with its values unchanged
and its memory not contiguous: a matrix (or a batch of them) stored transposed, as a transposed
weight is; a vector as every other element of a buffer twice its length, as a slice is. The
outputs and the gradients for one random cotangent are compared with the same call on
contiguous inputs (the same seed, the doctor's tolerance). A forward that reads raw storage
(data_ptr, as_strided, a kernel that assumes contiguity) is wrong-non-contiguous, an error; one
that raises (.view) is a warning. A forward that draws random numbers is not compared (rand_like
follows the memory layout, so a strided call draws other numbers).
Cost: 3 forward and 2 backward calls; when something differs, 2 more per input to name it.
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import agree, call, cotangents, draws_random, fresh, good, one_line, row, vjp
from backpropcli.doctor.results import Finding

NAME = "non-contiguous"
COMPARED = "the same call on contiguous inputs"


def strided(v: torch.Tensor) -> torch.Tensor | None:
    """v's values in non-contiguous memory: a matrix stored transposed (column-major, as a
    transposed weight is), else stride 2 along its last dimension longer than 1."""
    v = v.detach()
    if v.dim() >= 2 and v.shape[-1] > 1 and v.shape[-2] > 1:
        return v.transpose(-1, -2).contiguous().transpose(-1, -2)
    long = [d for d in range(v.dim()) if v.shape[d] > 1]
    if not long:
        return None
    d = long[-1]
    shape = list(v.shape)
    shape[d] *= 2
    view = _every_other(torch.zeros(shape, dtype=v.dtype, device=v.device), d)
    view.copy_(v)
    return view if not view.is_contiguous() else None


def _every_other(buffer: torch.Tensor, d: int) -> torch.Tensor:
    index = [slice(None)] * buffer.dim()
    index[d] = slice(0, None, 2)
    return buffer[tuple(index)]


def _run(ctx: ProbeContext, which: list[str], cots: tuple | None):
    """(outputs, gradients, cotangents) with the inputs in ``which`` strided."""
    leaves = fresh(ctx)
    for n in which:
        view = strided(leaves[n].detach())
        if view is not None:
            leaves[n] = view.detach().requires_grad_(True)
    outputs = call(ctx, leaves)
    cots = cotangents(outputs, 141) if cots is None else cots
    return outputs, vjp(ctx, leaves, outputs, cots), cots


def _differs(ctx, base, other) -> list[str]:
    """The inputs whose gradient (or, for all of them, the outputs) differ from the contiguous run."""
    (outs0, grads0, cots), (outs1, grads1, _) = base, other
    if not all(agree(a, b) for a, b in zip(outs1, outs0)):
        return list(ctx.subject.differentiable)
    bad = []
    for n in ctx.subject.differentiable:
        if not good(ctx, grads1[n], grads0[n].detach(), n) and _strided_breaks(ctx, n, cots, grads0[n], grads1[n]):
            bad.append(n)
    return bad


def _strided_breaks(ctx, name: str, cots: tuple, contiguous, strided_grad) -> bool:
    """Striding breaks a gradient only where the contiguous one is right and the strided one is
    not. Where the first derivative is already wrong, two wrong gradients may differ for another
    reason (grad[index] = g with repeated indices: which write wins is not defined, and the
    layout changes the order), which is not a contiguity bug; the truth for the same cotangents
    decides, element by element."""
    if ctx.first_ok.get(name, True):
        return True
    want = ctx.truth.vjp(cots).get(name)
    if want is None or tuple(want.shape) != tuple(contiguous.shape):
        return True
    want = want.detach().to(torch.float64)
    tol = torch.as_tensor(ctx.tolerance(want, name), dtype=torch.float64, device=want.device)

    def right(g):
        g = g.detach().to(torch.float64)
        return (g - want).abs() <= tol

    known = torch.isfinite(want)
    return bool((right(contiguous) & ~right(strided_grad) & known).any())


def run(ctx: ProbeContext) -> ProbeResult:
    names = [n for n in ctx.subject.differentiable if strided(ctx.leaves[n].detach()) is not None]
    if not names:
        return row(NAME, None, "no input has a dimension longer than 1 to stride", "")
    if draws_random(ctx, fresh(ctx)):
        return row(NAME, None, "not compared: forward draws random numbers, which a strided call draws "
                   "in another order", "")
    try:
        base = _run(ctx, [], None)
    except Exception as e:
        return row(NAME, None, f"skipped: the contiguous call raises {one_line(e)}", COMPARED)
    try:
        together = _run(ctx, names, base[2])
        if not _differs(ctx, base, together):
            return row(NAME, True, f"strided {', '.join(names)}: same values and gradients", COMPARED)
        wrong = [n for n in names if _differs(ctx, base, _run(ctx, [n], base[2]))]
    except Exception as e:
        return row(NAME, None, f"raises on a strided input: {one_line(e)}", COMPARED,
                   [Finding("fails-non-contiguous", extra={"why": one_line(e)})])
    findings = [Finding("wrong-non-contiguous", input=n) for n in wrong] or \
        [Finding("wrong-non-contiguous", input=None)]
    return row(NAME, False, "a strided input changes the values or gradients", COMPARED, findings)
