"""The condition a set of wrong elements shares, when one does: exactly where ``x < 0``, exactly
the rows an index tensor repeats.

A gradient wrong at some elements and right at the others is usually one wrong branch of
backward: a ReLU's mask written ``x < 0`` for ``x > 0``, a clamp's bound, an index assignment
that keeps one of several contributions. The candidate conditions are built from the values the
Function was called with (inputs of the gradient's shape or broadcastable to it, Python numbers
as thresholds, index tensors) and from its outputs; a condition is named only when its mask
equals the wrong set EXACTLY on the elements whose truth is known, never "mostly".

A condition is machine-readable (present/ words it):
``{"input": "x", "op": "<", "value": 0}``; ``{"input": "x", "op": "<", "value": 0.5, "param": "a"}``
(the threshold is parameter a); ``{"output": 0, "op": "<=", "value": 0}`` (forward's output 0);
``{"input": "mask", "op": "==", "value": True}``; ``{"input": "x", "op": ">", "value": 1, "abs":
True}`` (|x| > 1); ``{"any": [c1, c2]}`` / ``{"all": [c1, c2]}`` for x outside / strictly
inside [low, high] (then ``"params": ["lo", "hi"]`` when the bounds are Python arguments); ``{"index": "idx", "dim": 0,
"repeats": True}`` (the rows along dim 0 that idx names more than once), ``{"index": "idx",
"dim": 0, "selects": True}`` / ``False`` (the rows idx names / never names), ``{"index": "idx",
"dim": 1, "repeats": True, "along": True}`` (gather-style: per position of the other dims, the
entries along dim 1 that idx names more than once).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor

# the comparisons tried against a threshold, in the order a match is reported: when several
# conditions select the same elements (x < 0 and x <= 0 when no x is exactly 0), the first wins
OPS = ("<", "<=", ">", ">=", "==", "!=")
ABS_OPS = (">", ">=", "<", "<=")


@dataclass(frozen=True)
class Candidate:
    """A condition and the elements it selects: ``test(values)``, where ``values`` is a view of
    the gradient's shape (expanded, not copied), so that the test can first be run on a few
    elements and the whole mask is built only for a condition that passes them."""

    condition: dict[str, Any]
    values: Tensor
    test: Callable[[Tensor], Tensor]
    hint: str  # the PHRASES key of the fix it suggests (codes.py)

    @property
    def mask(self) -> Tensor:
        return self.test(self.values)


def _same(x: Tensor) -> Tensor:
    return x


def _compare_abs(x: Tensor, op: str, value: float) -> Tensor:
    return _compare(x.abs(), op, value)


def _outside(x: Tensor, low: float, high: float) -> Tensor:
    return (x < low) | (x > high)


def _inside(x: Tensor, low: float, high: float) -> Tensor:
    return (x > low) & (x < high)


def _compare(x: Tensor, op: str, value: float) -> Tensor:
    if op == "<":
        return x < value
    if op == "<=":
        return x <= value
    if op == ">":
        return x > value
    if op == ">=":
        return x >= value
    if op == "==":
        return x == value
    return x != value


def expands_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether a tensor of ``shape`` broadcasts to exactly ``target`` (it may be smaller): aligned
    from the right, each of its dims is target's or 1. (Plain Python: torch.broadcast_shapes
    imports the symbolic-shapes machinery on its first call, seconds.)"""
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))


def params(inputs: Mapping[str, Any]) -> dict[str, float]:
    """The Python numbers among the inputs (bools are flags, not thresholds)."""
    return {name: float(v) for name, v in inputs.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def _thresholds(x: Tensor, shape: tuple[int, ...], source: dict[str, Any],
                numbers: Mapping[str, float]) -> Iterator[Candidate]:
    """x compared with 0, with ±1, |x| with 1, and x (and |x|) with each Python number among the
    inputs (a clamp's or a threshold's bound)."""
    x = x.expand(shape)
    hint = "points.condition"
    for op in OPS:
        yield Candidate({**source, "op": op, "value": 0}, x, partial(_compare, op=op, value=0.0), hint)
    for one in (1, -1):
        for op in ABS_OPS:
            yield Candidate({**source, "op": op, "value": one}, x,
                            partial(_compare, op=op, value=float(one)), hint)
    for op in ABS_OPS:
        yield Candidate(_abs_condition(source, op, 1), x, partial(_compare_abs, op=op, value=1.0), hint)
    for pname, value in numbers.items():
        if value in (0.0, 1.0, -1.0):
            continue  # already tried
        for op in OPS[:5]:
            yield Candidate({**source, "op": op, "value": value, "param": pname}, x,
                            partial(_compare, op=op, value=value), hint)
        if value > 0:
            for op in ABS_OPS:
                yield Candidate({**_abs_condition(source, op, value), "param": pname}, x,
                                partial(_compare_abs, op=op, value=value), hint)
    yield from _intervals(x, source, numbers)


def _abs_condition(source: dict[str, Any], op: str, value: float) -> dict[str, Any]:
    """|x| op value (present words it "|x| > 1")."""
    return {**source, "op": op, "value": value, "abs": True}


def _intervals(x: Tensor, source: dict[str, Any], numbers: Mapping[str, float]) -> Iterator[Candidate]:
    """x outside / strictly inside [low, high]: [0, 1], and every pair of bounds among the
    Python numbers (a clamp(min=lo, max=hi) whose backward forgot its mask is wrong outside)."""
    pairs: list[tuple[float, float, list[str] | None]] = [(0.0, 1.0, None)]
    named = sorted(numbers.items(), key=lambda item: item[1])
    pairs += [(lo, hi, [a, b]) for i, (a, lo) in enumerate(named) for b, hi in named[i + 1:] if lo < hi]
    for low, high, names in pairs:
        named_as = {} if names is None else {"params": names}
        outside = {"any": [{**source, "op": "<", "value": low}, {**source, "op": ">", "value": high}]}
        inside = {"all": [{**source, "op": ">", "value": low}, {**source, "op": "<", "value": high}]}
        yield Candidate({**outside, **named_as}, x, partial(_outside, low=low, high=high),
                        "points.condition")
        yield Candidate({**inside, **named_as}, x, partial(_inside, low=low, high=high),
                        "points.condition")


def _rows(index: Tensor, name: str, shape: tuple[int, ...]) -> Iterator[Candidate]:
    """index_select / embedding / x[idx] style: the rows along each dim that idx repeats, hits or
    misses, where all of idx's values are valid positions along that dim."""
    flat = index.reshape(-1).long()
    for dim, size in enumerate(shape):
        if flat.numel() == 0 or size == 0 or int(flat.min()) < -size or int(flat.max()) >= size:
            continue
        counts = torch.bincount(flat % size, minlength=size)
        view = [1] * len(shape)
        view[dim] = size
        for key, value, rows, hint in (("repeats", True, counts > 1, "points.index-add"),
                                       ("selects", True, counts >= 1, "points.condition"),
                                       ("selects", False, counts == 0, "points.condition")):
            yield Candidate({"index": name, "dim": dim, key: value},
                            rows.reshape(view).expand(shape), _same, hint)


def _along(index: Tensor, name: str, shape: tuple[int, ...]) -> Iterator[Candidate]:
    """gather style (x.gather(dim, idx)): per position of the other dims, the entries along dim
    that idx names more than once; its backward must scatter_add_ the grad_output."""
    if index.ndim != len(shape) or index.ndim < 2 or index.numel() == 0:
        return
    for dim, size in enumerate(shape):
        fits = all(index.shape[k] <= shape[k] for k in range(len(shape)) if k != dim)
        if not fits or int(index.min()) < 0 or int(index.max()) >= size:
            continue
        counts = torch.zeros(shape, dtype=torch.long, device=index.device)
        counts.scatter_add_(dim, index.long(), torch.ones_like(index, dtype=torch.long))
        yield Candidate({"index": name, "dim": dim, "repeats": True, "along": True}, counts > 1,
                        _same, "points.scatter-add")


def candidates(shape: tuple[int, ...], inputs: Mapping[str, Any],
               outputs: tuple = ()) -> Iterator[Candidate]:
    """Every candidate condition over elements of ``shape``, inputs first (in forward's order),
    then outputs; an input that is not a tensor is a threshold, not a candidate of its own."""
    numbers = params(inputs)
    for name, value in inputs.items():
        if not isinstance(value, Tensor) or value.is_complex():
            continue
        value = value.detach()
        if value.dtype == torch.bool:
            if expands_to(tuple(value.shape), shape):
                mask = value.expand(shape)
                yield Candidate({"input": name, "op": "==", "value": True}, mask, _same,
                                "points.condition")
                yield Candidate({"input": name, "op": "==", "value": False}, mask,
                                torch.logical_not, "points.condition")
            continue
        if not value.is_floating_point():
            yield from _rows(value, name, shape)
            yield from _along(value, name, shape)
        if expands_to(tuple(value.shape), shape):
            yield from _thresholds(value, shape, {"input": name}, numbers)
    for k, out in enumerate(outputs):
        if isinstance(out, Tensor) and not out.is_complex() and out.dtype != torch.bool \
                and expands_to(tuple(out.shape), shape):
            yield from _thresholds(out.detach(), shape, {"output": k}, {})


def _sample(where: Tensor, k: int = 64) -> tuple[Tensor, ...]:
    """The coordinates of up to k elements of ``where``, spread over it."""
    coords = where.nonzero()
    pick = torch.linspace(0, coords.shape[0] - 1, min(k, coords.shape[0]), device=coords.device).long()
    return tuple(coords[pick].unbind(1))


def _passes(cand: Candidate, wrong_at: tuple[Tensor, ...], right_at: tuple[Tensor, ...]) -> bool:
    """A quick test on a few wrong and a few right elements: most candidates fail it."""
    if not wrong_at:  # a 0-d gradient: nothing to sample
        return True
    v = cand.values
    wrong_at = tuple(c.to(v.device) for c in wrong_at)
    right_at = tuple(c.to(v.device) for c in right_at)
    return bool(cand.test(v[wrong_at]).all()) and not bool(cand.test(v[right_at]).any())


def matching(wrong: Tensor, known: Tensor, inputs: Mapping[str, Any], outputs: tuple = (),
             limit: int = 4) -> list[Candidate]:
    """The candidate conditions (at most ``limit``, in the order of ``candidates``) whose mask
    equals ``wrong`` at every element where ``known`` is true. A condition that selects nothing
    known, or every known element, says nothing and is never returned."""
    wrong = wrong & known
    count = int(wrong.sum())
    if count == 0 or count == int(known.sum()):
        return []
    wrong_at, right_at = _sample(wrong), _sample(known & ~wrong)
    found: list[Candidate] = []
    for cand in candidates(tuple(wrong.shape), inputs, outputs):
        if not _passes(cand, wrong_at, right_at):
            continue
        mask = cand.mask.to(wrong.device) & known
        if int(mask.sum()) == count and bool(torch.equal(mask, wrong)):
            found.append(cand)
            if len(found) >= limit:
                break
    return found
