"""The custom gradient as products: the VJP the hand-written backward gives, with the RAW
gradients it returned, and the dot-product test against the truth.

autograd validates a backward's gradients before anyone sees them: a gradient of the wrong
shape raises, and one of a shape that broadcasts to the input's (an unsummed bias gradient) is
summed silently. To name those bugs the Function is called through a subclass made on the fly
whose backward calls the user's, records what it returned, and returns it unchanged.

The dot-product test: for a cotangent v and a tangent u, ⟨v, J u⟩ = ⟨Jᵀv, u⟩ for the true J.
The right side uses the custom VJP (one backward for every input at once), the left the truth's
J u (a few forward calls by differences); signed random directions make a wrong J disagree
with probability one, at a cost that grows with the number of directions, not with numel.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backpropcli.core import tolerance
from backpropcli.doctor.results import Cost
from backpropcli.doctor.subject import Subject

DOT_DIRECTIONS = 3  # signed random (v, u) pairs per input


def counted(subject: Subject, cost: Cost, raw: list) -> Subject:
    """The subject whose every forward call is counted in ``cost`` and whose backward (through a
    recording subclass of the Function) is counted and appends the raw gradients to ``raw``."""
    apply = subject.apply
    function: Any = subject.function
    if function is not None:
        function = _recording(function, cost, raw)
        apply = function.apply
    forward = subject.forward
    return dataclasses.replace(subject, apply=_count(apply, cost),
                               forward=_count(forward, cost) if forward is not None else None, function=function)


def _count(fn: Callable, cost: Cost) -> Callable:
    from backpropcli.doctor.traced import seeded

    def call(*args, **kwargs):
        cost.forward_calls += 1
        with seeded():  # a random forward draws the same numbers at every call
            return fn(*args, **kwargs)

    call.__wrapped__ = fn  # type: ignore[attr-defined]  # what is counted: opcheck needs the op itself
    return call


def _recording(cls: Any, cost: Cost, raw: list) -> Any:
    """A subclass of the Function whose backward records the user's raw gradients."""
    import torch

    # a Function defines backward or its alias vjp, never both: wrap the one the user wrote
    which = "vjp" if cls.vjp is not torch.autograd.Function.vjp else "backward"
    user = getattr(cls, which)

    def backward(ctx, *grad_outputs):
        cost.backward_calls += 1
        result = user(ctx, *grad_outputs)
        raw.append(result if isinstance(result, tuple) else (result,))
        return result

    return type(cls.__name__, (cls,), {which: staticmethod(backward), "__doc__": cls.__doc__,
                                       "__module__": cls.__module__, "__qualname__": cls.__qualname__})


def positions(subject: Subject) -> dict[str, int]:
    """Which of backward's returned gradients belongs to which input: forward's parameter index
    (apply binds every argument, so backward returns one per parameter), or args[k]'s k."""
    import inspect

    if subject.function is None:
        return {i.name: k for k, i in enumerate(subject.inputs)}
    function: Any = subject.function
    params = list(inspect.signature(function.forward).parameters)
    if subject.kind == "function-ctx":
        params = params[1:]
    out = {}
    for k, i in enumerate(subject.inputs):
        if i.name.startswith("args[") and i.name.endswith("]"):
            out[i.name] = int(i.name[5:-1])
        else:
            out[i.name] = params.index(i.name) if i.name in params else k
    return out


@dataclass
class CustomVJP:
    """What backward gave for one set of cotangents: per differentiable input the raw gradient
    (None: backward returned None, a zero gradient), and the error autograd or backward raised."""

    grads: dict[str, Any]
    error: BaseException | None = None
    raised_in_backward: bool = False  # the user's backward raised (not autograd's validation)
    counts: tuple[int, int] | None = None  # (returned, expected) when backward returned the wrong number


def outputs_at(subject: Subject, leaves: dict[str, Any]) -> tuple:
    """The Function's outputs at the leaves; a Function that marks an input dirty (in-place) is
    found here (autograd refuses it on a leaf) and run on non-leaf clones from then on.

    forward runs under no_grad, so the in-place op has already overwritten the leaf when autograd
    refuses it (at mark_dirty, after forward returns): the leaves are put back from a copy taken
    before, else every later call (the truth's included) would start from forward's output."""

    before = None if subject.dirty else {n: v.detach().clone() for n, v in leaves.items()}
    try:
        outputs = subject.call(leaves)
    except RuntimeError as e:
        if "leaf Variable" not in str(e) or "in-place" not in str(e) or before is None:
            raise
        _restore(leaves, before)
        subject.dirty = True
        return subject.call(leaves)
    if before is not None and not all(_same(leaves[n].detach(), v) for n, v in before.items()):
        # changed in place without mark_dirty (the saved-tensors probe names it): every later call
        # runs on clones of the leaves, and these outputs (of the overwritten leaves' graph) again
        _restore(leaves, before)
        subject.overwrites = True
        outputs = subject.call(leaves)
    return outputs


def _restore(leaves: dict[str, Any], before: dict[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for n, v in before.items():
            leaves[n].copy_(v)


def _same(a, b) -> bool:
    """Equal values, nan equal to nan."""
    import torch

    return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())


def custom_vjp(subject: Subject, raw: list, leaves: dict[str, Any], cotangents: tuple) -> CustomVJP:
    """One backward for every differentiable input at once, raw gradients recorded."""
    import torch

    outputs = subject.call(leaves)
    pairs = [(o, c) for o, c in zip(outputs, cotangents)
             if c is not None and isinstance(o, torch.Tensor) and o.requires_grad]
    names = list(leaves)
    zeros: dict[str, Any] = dict.fromkeys(names)
    if not pairs:
        return CustomVJP(zeros)
    mark = len(raw)
    error: BaseException | None = None
    grads: tuple = (None,) * len(names)
    try:
        grads = torch.autograd.grad([o for o, _ in pairs], [leaves[n] for n in names], [c for _, c in pairs],
                                    allow_unused=True)
    except Exception as e:  # autograd's shape validation, or the user's backward raising
        error = e
    if subject.function is None:  # a plain callable: autograd through it is its gradient
        return CustomVJP({n: (g.detach() if g is not None else None) for n, g in zip(names, grads)}, error, True)
    if len(raw) == mark:  # backward never returned: it raised
        return CustomVJP(zeros, error, True)
    returned = raw[-1]
    counted = re.search(r"incorrect number of gradients \(expected (\d+), got (\d+)\)", str(error or ""))
    if counted:  # autograd refused the tuple before looking at any gradient in it
        return CustomVJP(zeros, error, False, (int(counted.group(2)), int(counted.group(1))))
    where = positions(subject)
    out = {}
    for n in names:
        k = where[n]
        g = returned[k] if k < len(returned) else None
        out[n] = g.detach() if isinstance(g, torch.Tensor) else g
    return CustomVJP(out, error, False)


def random_cotangents(outputs: tuple, generator, dtype=None, signed: bool = False) -> tuple:
    """One random cotangent per differentiable output (None for the others)."""
    import torch

    from backpropcli.doctor.subject import Subject as _S

    diff = set(_S.differentiable_outputs(outputs))
    out: list[Any] = []
    for k, o in enumerate(outputs):
        if k not in diff:
            out.append(None)
            continue
        v = torch.randn(o.shape, generator=generator, dtype=torch.float64)
        if signed:
            v = torch.sign(v) + (v == 0).to(v.dtype)
        v = v.to(dtype=dtype or o.dtype, device=o.device)
        # no weight where the output is not finite: nothing to judge there, and a nan would spread
        out.append(torch.where(torch.isfinite(o.detach()), v, torch.zeros_like(v)))
    return tuple(out)


def dot_test(subject: Subject, raw: list, truth, leaves: dict[str, Any], outputs: tuple, generator,
             directions: int = DOT_DIRECTIONS) -> dict[str, bool | None]:
    """Per differentiable input: does ⟨v, J u⟩ (the truth) equal ⟨custom Jᵀv, u⟩ on every signed
    random pair? None where the custom gradient cannot be paired (wrong shape, backward raised)."""
    import torch

    verdict: dict[str, bool | None] = dict.fromkeys(leaves, True)
    for _ in range(directions):
        v = random_cotangents(outputs, generator, signed=True)
        custom = custom_vjp(subject, raw, leaves, v)
        for n, x in leaves.items():
            g = custom.grads[n]
            if custom.raised_in_backward or (g is not None and tuple(g.shape) != tuple(x.shape)):
                verdict[n] = None
                continue
            if verdict[n] is False:
                continue
            if n in truth.doubted:
                verdict[n] = None  # the differences alone are not trusted there: the elements judge
                continue
            g = torch.zeros_like(x) if g is None else g.to(torch.float64)
            u = (torch.randint(0, 2, x.shape, generator=generator) * 2 - 1).to(dtype=torch.float64, device=x.device)
            along = truth.jvp({n: u})
            lhs = sum(float(torch.where(c != 0, c.to(torch.float64) * d, 0).sum()) for c, d in zip(v, along)
                      if c is not None and d is not None)
            rhs = float((g * u).sum())
            if not (math.isfinite(lhs) and math.isfinite(rhs)):
                verdict[n] = None  # an overflow on one side: the test cannot judge, the elements can
                continue
            size = float(g.abs().sum()) + abs(lhs) + sum(float(torch.where(c != 0, d.abs(), 0).sum())
                                                          for c, d in zip(v, along) if c is not None and d is not None)
            verdict[n] = bool(abs(lhs - rhs) <= tolerance.agreement("dot-product") * size)
    return verdict
