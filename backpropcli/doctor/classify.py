"""How a hand-written gradient is wrong: the bug class, named only when it is certain.

For one input, the doctor gives what backward returned (``custom``), the true vector–Jacobian
product (``truth``) and a per-element tolerance (``tol``): element i is right iff
|custom_i − truth_i| ≤ tol_i. A pattern (transposed, scaled by 1/64, the sign, an exclusive
scan, ...) is named only when its prediction is within tol of custom at EVERY element whose truth
is known; anything less is "wrong at points" (with the condition the wrong set exactly equals,
when one does) or, with nothing right at all, "wrong gradient". The functions are pure: tensors
in, Findings with raw numbers out (present/ words them from the registry in codes.py).

The checks, in the order tried (the most specific pattern first):
* the shape: the broadcast shape autograd sums itself (a warning when the sum is right), a sum
  over the wrong dims, another input's gradient, the input's shape transposed;
* the values: non-finite where the truth is finite, zeros, another input's gradient, the local
  derivative not multiplied by grad_output, a constant factor (−1 is the sign; 1/numel a
  mean's), the transpose, the sum over the wrong broadcast dim, truth ∓ each element's own
  cotangent term (an exclusive scan), then the elements.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from backpropcli.doctor import conditions, scales
from backpropcli.doctor.codes import phrase
from backpropcli.doctor.results import Finding

WORST = 5  # how many of the worst elements a finding lists
MAX_DIMS = 6  # sums over subsets of at most this many dims are tried (2**6 subsets)


@dataclass(frozen=True)
class Case:
    """One input's comparison: the truth, its tolerance and the elements whose truth is known,
    all float64 of the input's shape, and the context patterns are looked for in."""

    name: str
    truth: Tensor
    tol: Tensor
    known: Tensor
    inputs: Mapping[str, Any]
    cotangents: tuple
    outputs: tuple
    others: Mapping[str, tuple]

    def fits(self, custom: Tensor, pred: Tensor, known: Tensor | None = None,
             tol: Tensor | None = None) -> bool:
        """Whether ``pred`` is within tol of ``custom`` at every known element (nan never is)."""
        known = self.known if known is None else known
        tol = self.tol if tol is None else tol
        return bool(((custom - pred).abs() <= tol)[known].all())

    def wrong(self, custom: Tensor) -> Tensor:
        """The known elements where custom is not within tol of the truth."""
        return self.known & ~((custom - self.truth).abs() <= self.tol)

    def finding(self, code: str, **extra: Any) -> Finding:
        return Finding(code, input=self.name, extra=extra)


def _f64(x: Tensor, like: Tensor) -> Tensor:
    return x.detach().to(device=like.device, dtype=torch.float64)


def classify(name: str, custom: Tensor | None, truth: Tensor, tol: Tensor | float, *,
             inputs: Mapping[str, Any], cotangents: tuple, outputs: tuple,
             others: Mapping[str, tuple] | None = None,
             known: Tensor | None = None) -> list[Finding]:
    """The findings that name how ``custom`` (what backward returned for input ``name``; None
    means zeros) differs from ``truth``; [] when its shape is right and every known element is
    within ``tol``. ``others`` maps the other differentiable inputs to (custom, truth) or
    (custom, truth, tol); ``known`` marks the elements whose truth is known (None: all)."""
    t = truth.detach().to(torch.float64)
    mask = torch.ones_like(t, dtype=torch.bool) if known is None else known.to(t.device).bool()
    tol = tol if isinstance(tol, Tensor) else torch.as_tensor(tol)  # a number: the same for all
    case = Case(name, t, _f64(tol, t).expand_as(t), mask & torch.isfinite(t), inputs,
                tuple(cotangents), tuple(outputs), dict(others or {}))
    if custom is None:
        zero = torch.zeros_like(t)
        if not case.wrong(zero).any():
            return []
        return [case.finding("returns-zero", returned_none=True, **_counts(case, zero))]
    c = _f64(custom if isinstance(custom, Tensor) else torch.as_tensor(custom), t)
    try:
        if tuple(c.shape) != tuple(t.shape):
            return _shape_findings(case, c)
        return _value_findings(case, c)
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        # a pattern check that cannot handle these tensors (a bug here, or an odd dtype) must not
        # cost the user the verdict: the plain finding, and the reason for whoever debugs it
        return [_plain(case, c, type(exc).__name__)]


def _plain(case: Case, c: Tensor, why: str) -> Finding:
    """Wrong shape, or wrong values in no named pattern (the checks could not run: ``why``)."""
    shape = tuple(case.truth.shape)
    if tuple(c.shape) != shape:
        return case.finding("wrong-shape", got=tuple(c.shape), want=shape, transpose_note="",
                            unclassified=why)
    return case.finding("wrong-gradient", **_counts(case, c), unclassified=why)


# ---- the shape ------------------------------------------------------------------------------


def _sum_dims(small: tuple[int, ...], big: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """The dims of ``big`` to sum to get ``small`` (which broadcasts to big): the leading ones
    (dropped) and those where small has size 1 (kept)."""
    lead = len(big) - len(small)
    kept = [lead + i for i, s in enumerate(small) if s == 1 and big[lead + i] != 1]
    return list(range(lead)), kept


def _dims_code(dims: list[int] | tuple[int, ...]) -> str:
    """dims as torch takes them: "0", "(0, 1)"."""
    return str(dims[0]) if len(dims) == 1 else str(tuple(dims))


def _sum_call(dropped: list[int], kept: list[int]) -> str:
    """The torch calls that sum the broadcast dims, as code: ".sum(0)", ".sum(1, keepdim=True)";
    the kept dims are summed first, so the leading dims' numbers still hold."""
    calls = []
    if kept:
        calls.append(f".sum({_dims_code(kept)}, keepdim=True)")
    if dropped:
        calls.append(f".sum({_dims_code(dropped)})")
    return "".join(calls)


def sum_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """x summed over the dims it was broadcast along from ``shape`` (what eager autograd does)."""
    dropped, kept = _sum_dims(shape, tuple(x.shape))
    if kept:
        x = x.sum(dim=kept, keepdim=True)
    if dropped:
        x = x.sum(dim=dropped)
    return x.reshape(shape)


def _broadcast_extra(shape: tuple[int, ...], big: tuple[int, ...]) -> dict[str, Any]:
    dropped, kept = _sum_dims(shape, big)
    dims = dropped + kept
    return {"dims": dims, "s": phrase("plural") if len(dims) > 1 else "",
            "call": _sum_call(dropped, kept)}


def _shape_findings(case: Case, c: Tensor) -> list[Finding]:
    shape, got = tuple(case.truth.shape), tuple(c.shape)
    # tanh(x + bias)'s unsummed bias gradient is x's gradient too: autograd's sum makes it right
    summed_right = conditions.expands_to(shape, got) and case.fits(sum_to(c, shape), case.truth)
    swapped = None if summed_right else _swapped(case, c)
    if swapped is not None:
        return [replace(swapped, extra={**swapped.extra, "got": got, "want": shape})]
    if conditions.expands_to(shape, got):
        # eager autograd reduces a gradient of the broadcast shape itself (sum_to): its result is
        # what the caller gets, so it is what is judged; the shape itself is only a warning
        info = _broadcast_extra(shape, got)
        warn = case.finding("unsummed-broadcast-autograd-sums", got=got, want=shape,
                            dims=info["dims"], s=info["s"], call=info["call"])
        return [*_value_findings(case, sum_to(c, shape)), warn]
    unsummed = _summed_elsewhere(case, c)
    if unsummed is None:
        unsummed = _wrong_broadcast_dim(case, c)
    if unsummed is not None:
        unsummed.extra.update(got=got, want=shape)
        return [unsummed]
    return [case.finding("wrong-shape", got=got, want=shape, **_shape_note(case, c))]


def _dim_sums(x: Tensor, numel: int) -> list[tuple[tuple[int, ...], Tensor]]:
    """(dims, x summed over dims) for every non-empty subset of x's dims of size > 1 leaving
    ``numel`` elements (a "sum" over a dim of size 1 is a reshape, not a reduction)."""
    found: list[tuple[tuple[int, ...], Tensor]] = []
    if x.ndim > MAX_DIMS:
        return found
    real = [d for d in range(x.ndim) if x.shape[d] > 1]
    for k in range(1, len(real) + 1):
        for dims in itertools.combinations(real, k):
            if x.numel() // max(1, math.prod(x.shape[d] for d in dims)) == numel:
                found.append((dims, x.sum(dim=dims)))
    return found


def _summed_elsewhere(case: Case, c: Tensor) -> Finding | None:
    """A gradient of another shape that IS the truth once summed over some of its dims: the
    broadcast sum left out where autograd cannot do it (the shapes do not broadcast)."""
    shape = tuple(case.truth.shape)
    for dims, total in _dim_sums(c, case.truth.numel()):
        if case.fits(total.reshape(shape), case.truth):
            call = f".sum({_dims_code(dims)})"
            hint = phrase("broadcast.not-summed", call=call, got=tuple(c.shape), want=shape)
            return case.finding("missing-broadcast-sum", dims=list(dims),
                                s=phrase("plural") if len(dims) > 1 else "", hint=hint,
                                got=tuple(c.shape), want=shape, autograd_sums=False)
    return None


def _shape_note(case: Case, c: Tensor) -> dict[str, Any]:
    """Whether the wrong shape is the input's transposed (and the values too), or a reshape."""
    t, shape = case.truth, tuple(case.truth.shape)
    if t.ndim >= 2 and tuple(c.shape) == shape[:-2] + (shape[-1], shape[-2]):
        values = case.fits(c.mT, t)
        key = "shape.transposed-values" if values else "shape.transposed"
        return {"transpose": True, "values_transposed": values, "transpose_note": phrase(key)}
    if c.numel() == t.numel() and case.fits(c.reshape(shape), t):
        return {"transpose": False, "reshaped": True, "transpose_note": phrase("shape.reshaped")}
    return {"transpose": False, "transpose_note": ""}


# ---- the values -----------------------------------------------------------------------------


def _value_findings(case: Case, c: Tensor) -> list[Finding]:
    wrong = case.wrong(c)
    if not wrong.any():
        return []
    nonfinite = case.known & ~torch.isfinite(c)
    if nonfinite.any():
        # named apart; the finite elements are then judged on their own
        rest = replace(case, known=case.known & ~nonfinite)
        return [_nonfinite(case, c, nonfinite), *_value_findings(rest, c)]
    for check in (_zero, _swapped, _ignores_grad_output, scales.scaled, _transposed,
                  _wrong_broadcast_dim, _shifted):
        found = check(case, c)
        if found is not None:
            return [found]
    return [_points(case, c, wrong)]


def unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The index of element ``flat`` of a C-ordered tensor of ``shape`` (plain Python:
    torch.unravel_index imports sympy on its first call)."""
    index = []
    for size in reversed(shape):
        flat, i = divmod(flat, size) if size else (flat, 0)
        index.append(i)
    return tuple(reversed(index))


def _counts(case: Case, c: Tensor) -> dict[str, Any]:
    err = (c - case.truth).abs().masked_fill(~case.known, 0.0).nan_to_num(nan=float("inf"))
    worst = int(err.reshape(-1).argmax()) if err.numel() else 0
    index = unravel(worst, tuple(case.truth.shape))
    return {"max_abs_error": float(err.reshape(-1)[worst]) if err.numel() else 0.0,
            "worst_index": index, "count": int(case.wrong(c).sum()), "total": int(case.known.sum())}


def _nonfinite(case: Case, c: Tensor, where: Tensor) -> Finding:
    cond = conditions.matching(where, case.known, case.inputs, case.outputs)
    return case.finding("nan-where-finite", count=int(where.sum()), total=int(case.known.sum()),
                        worst=_worst(case, c, where),
                        condition=cond[0].condition if cond else None)


def _zero(case: Case, c: Tensor) -> Finding | None:
    if not case.fits(c, torch.zeros_like(c)):
        return None
    return case.finding("returns-zero", returned_none=False, **_counts(case, c))


def _swapped(case: Case, c: Tensor) -> Finding | None:
    """custom is, within tolerance, the true gradient of another input."""
    for other, pair in case.others.items():
        o_truth = pair[1]
        if o_truth is None or tuple(o_truth.shape) != tuple(c.shape) or o_truth.numel() == 0:
            continue
        ot = _f64(o_truth, case.truth)
        otol = _f64(pair[2], ot).expand_as(ot) if len(pair) > 2 else _tol_like(case, ot)
        if not bool(((c - ot).abs() <= otol).all()):
            continue
        o_custom = pair[0]
        both = o_custom is not None and tuple(o_custom.shape) == tuple(case.truth.shape) \
            and case.fits(_f64(o_custom, case.truth), case.truth)
        return case.finding("swapped-gradients", other=other, both=both,
                            order=", ".join(n for n in case.inputs))
    return None


def _tol_like(case: Case, other: Tensor) -> Tensor:
    """A tolerance for another tensor when the doctor gave none: this input's worst ratio of tol
    to |truth| + its mean magnitude, applied to the other's magnitudes (a tolerance of the same
    relative size). With no magnitude to be relative to, this input's largest tol, absolute."""
    t = case.truth[case.known].abs()
    tol = case.tol[case.known]
    scale = float(t.mean()) if t.numel() else 0.0
    if not scale > 0.0:
        return torch.full_like(other, float(tol.max()) if tol.numel() else 0.0)
    rel = float((tol / (t + scale)).max())
    return rel * (other.abs() + other.abs().mean())


def _transposed(case: Case, c: Tensor) -> Finding | None:
    """A square (batch of) matrices whose gradient is the truth with its last two dims swapped."""
    t = case.truth
    if t.ndim < 2 or t.shape[-1] != t.shape[-2] or t.shape[-1] < 2:
        return None
    known = case.known & case.known.mT
    if not known.any() or not case.fits(c, t.mT, known, torch.maximum(case.tol, case.tol.mT)):
        return None
    return case.finding("transposed", hint=phrase("transposed.hint"))


def _wrong_broadcast_dim(case: Case, c: Tensor) -> Finding | None:
    """Summed over the wrong dims of the broadcast gradient U: U is the cotangent of an output the
    input broadcasts to (or it times a tensor of that shape), U summed over the broadcast dims is
    the truth, and custom is U summed over other dims (of the input's shape, or another)."""
    shape = tuple(case.truth.shape)
    for u in _unsummed(case):
        right = _right_sum(case, u, shape)
        if right is None:
            continue
        for dims, total in _dim_sums(u, c.numel()):
            if list(dims) != right["dims"] and _same(case, c, total):
                hint = phrase("broadcast.wrong-dim", call=right["call"], wrong=_dims_code(dims))
                return case.finding("missing-broadcast-sum", dims=right["dims"], s=right["s"],
                                    wrong_dims=list(dims), hint=hint, autograd_sums=False)
    return None


def _right_sum(case: Case, u: Tensor, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """How U sums to the truth: over the broadcast dims (trailing alignment, as torch broadcasts
    a tensor of ``shape``), or over the one other choice of dims that does — forward may have
    broadcast the input along other dims by indexing (scale[:, None] on (N, C, L): dims (0, 2))."""
    if case.fits(sum_to(u, shape), case.truth):
        return _broadcast_extra(shape, tuple(u.shape))
    fits = [dims for dims, total in _dim_sums(u, case.truth.numel())
            if case.fits(total.reshape(shape), case.truth)]
    if len(fits) != 1:
        return None  # none, or several sums agree (as they do for a constant U): no certain name
    dims = list(fits[0])
    return {"dims": dims, "s": phrase("plural") if len(dims) > 1 else "", "call": f".sum({_dims_code(dims)})"}


def _same(case: Case, c: Tensor, pred: Tensor) -> bool:
    """custom equals pred: within tol when they have the input's shape, else within a tolerance
    of the same relative size (see _tol_like)."""
    if tuple(pred.shape) != tuple(c.shape):
        return False
    if tuple(c.shape) == tuple(case.truth.shape):
        return case.fits(c, pred)
    return bool(((c - pred).abs() <= _tol_like(case, pred)).all())


def _unsummed(case: Case) -> list[Tensor]:
    """The candidates for the gradient before its broadcast sum: each cotangent of a shape the
    input broadcasts to (and is not), and its products with the tensors of that shape."""
    shape = tuple(case.truth.shape)
    tensors = [v for v in (*case.inputs.values(), *case.outputs)
               if isinstance(v, Tensor) and v.is_floating_point()]
    found = []
    for g in case.cotangents:
        if not isinstance(g, Tensor) or tuple(g.shape) == shape \
                or not conditions.expands_to(shape, tuple(g.shape)):
            continue
        g64 = _f64(g, case.truth)
        found.append(g64)
        found += [g64 * _f64(v, g64) for v in tensors if tuple(v.shape) == tuple(g.shape)]
    return found


def _ignores_grad_output(case: Case, c: Tensor) -> Finding | None:
    """custom × g = truth for a cotangent g of (or broadcastable to) the input's shape: backward
    returned the local derivative without multiplying by grad_output. With c = t/g + e, the test
    |c·g − t| ≤ tol·|g| is exactly |e| ≤ tol, with no division by a small g."""
    for g in case.cotangents:
        if not isinstance(g, Tensor) or not conditions.expands_to(tuple(g.shape), tuple(case.truth.shape)):
            continue
        g64 = _f64(g, case.truth).expand_as(case.truth)
        if bool((g64 != 1).any()) and bool(((c * g64 - case.truth).abs() <= case.tol * g64.abs())[case.known].all()):
            return case.finding("ignores-grad-output")
    return None


def _shifted(case: Case, c: Tensor) -> Finding | None:
    """custom = truth ∓ the element's own cotangent term, for an output of the input's shape: an
    exclusive scan where an inclusive one is needed (or the own term added twice). Not where the
    truth is zero everywhere: custom = ±grad_output there is a surrogate (a straight-through
    estimator), not a shift."""
    if not (case.truth.abs() > case.tol)[case.known].any():
        return None
    for g in case.cotangents:
        if not isinstance(g, Tensor) or tuple(g.shape) != tuple(case.truth.shape):
            continue
        g64 = _f64(g, case.truth)
        for sign, key in ((-1.0, "exclusive"), (1.0, "doubled")):
            if case.fits(c, case.truth + sign * g64):
                return case.finding("shifted", sign=int(sign), kind=key,
                                    direction=phrase(f"shift.{key}"),
                                    hint=phrase(f"shift.fix.{key}"))
    return None


def _worst(case: Case, c: Tensor, where: Tensor) -> list[dict[str, Any]]:
    """The WORST elements of ``where`` by |custom − truth| (non-finite first): index, the two
    values, and the values there of the inputs of the same shape."""
    err = (c - case.truth).abs().nan_to_num(nan=float("inf")).masked_fill(~where, -1.0)
    k = min(WORST, int(where.sum()))
    same = {n: v.detach() for n, v in case.inputs.items()
            if isinstance(v, Tensor) and tuple(v.shape) == tuple(case.truth.shape)}
    rows = []
    for flat in err.reshape(-1).topk(k).indices.tolist():
        index = unravel(flat, tuple(case.truth.shape))
        rows.append({"index": index, "custom": float(c[index]), "truth": float(case.truth[index]),
                     "inputs": {n: v[index].item() for n, v in same.items()}})
    return rows


def _points(case: Case, c: Tensor, wrong: Tensor) -> Finding:
    """Wrong at some elements (and the condition they share, exactly), or wrong everywhere."""
    counts = _counts(case, c)
    if counts["count"] == counts["total"]:
        return case.finding("wrong-gradient", **counts)
    cond = conditions.matching(wrong, case.known, case.inputs, case.outputs)
    first = cond[0] if cond else None
    hint = phrase(first.hint, index=first.condition.get("index", "")) if first else phrase("points.none")
    return case.finding("wrong-at-points", **counts, worst=_worst(case, c, wrong),
                        condition=first.condition if first else None,
                        equivalent=[k.condition for k in cond[1:]], hint=hint,
                        there=_there(case, c, wrong))


def _there(case: Case, c: Tensor, wrong: Tensor) -> str | None:
    """What custom is at the wrong elements, when all of them agree: "zero" or "sign-flipped"."""
    if case.fits(c, torch.zeros_like(c), wrong):
        return "zero"
    if case.fits(c, -case.truth, wrong):
        return "sign-flipped"
    return None


def pattern_of(findings: list[Finding], input: str | None = None) -> str | None:
    """The code naming the pattern for the per-input table: the first error's (classify puts the
    most specific first), else the first warning's; None when there is no finding. With
    ``input``, only that input's findings count."""
    mine = [f for f in findings if input is None or f.input == input]
    for severity in ("error", "warning"):
        for f in mine:
            if f.severity == severity:
                return f.code
    return None
