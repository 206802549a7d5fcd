"""The thing under test: a callable with named inputs of any shape, and named outputs.

A Subject is built from what the user gives — ``make_inputs()`` returning a tuple of positional
arguments or a dict of keyword arguments, or the scalar ``--x/--y`` points with ``--a/--b/--c`` —
and the loaded target (an autograd.Function or a plain callable). Floating tensors with
``requires_grad=True`` are the differentiable inputs; everything else (int/bool index tensors,
float tensors without grad, Python values) is passed as it is. Inputs are named by forward's
parameter names; outputs are ``out`` for one, ``out[0]``, ``out[1]``, … for a tuple.

Every call gets fresh leaves (never the user's own tensors, so nothing accumulates in their
``.grad``); a Function that marks an input dirty (in-place) is run on non-leaf clones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Input:
    name: str
    value: Any  # as make_inputs gave it; a tensor is kept detached
    differentiable: bool  # a floating tensor that had requires_grad=True
    keyword: bool = False  # passed by keyword

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(getattr(self.value, "shape", ()))


@dataclass
class Subject:
    name: str
    kind: str  # "function" | "function-ctx" | "callable"
    apply: Callable[..., Any]  # Function.apply, or the plain callable
    inputs: tuple[Input, ...]
    forward: Callable[..., Any] | None = None  # forward as plain torch ops (same arguments), None for a callable
    function: type | None = None  # the torch.autograd.Function subclass
    dirty: bool = False  # forward marks an input dirty: run on non-leaf clones
    # forward changes a differentiable input in place WITHOUT mark_dirty (found by comparing the
    # leaves before and after a call): run on clones too, so no call sees another's leftovers
    overwrites: bool = False

    # ---- inputs --------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    @property
    def differentiable(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs if i.differentiable)

    def input(self, name: str) -> Input:
        return next(i for i in self.inputs if i.name == name)

    def leaves(self, dtype=None, device=None, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Fresh leaves (requires_grad) for the differentiable inputs, optionally cast or replaced."""
        out = {}
        for i in self.inputs:
            if i.differentiable:
                v = values[i.name] if values is not None and i.name in values else i.value
                v = v.detach().to(dtype=dtype or v.dtype, device=device or v.device).clone()
                out[i.name] = v.requires_grad_(True)
        return out

    def arguments(self, leaves: Mapping[str, Any], dtype=None, device=None) -> tuple[list, dict]:
        """(positional, keyword) arguments: the leaves for the differentiable inputs, the rest as
        given (float tensors cast to ``dtype``, every tensor moved to ``device``)."""
        args: list = []
        kwargs: dict = {}
        for i in self.inputs:
            if i.differentiable:
                v = leaves[i.name]
                if self.dirty or self.overwrites:
                    v = v.clone()  # mark_dirty needs a non-leaf; the clone's gradient reaches the leaf
            else:
                v = _cast(i.value, dtype, device)
            if i.keyword:
                kwargs[i.name] = v
            else:
                args.append(v)
        return args, kwargs

    # ---- calls ---------------------------------------------------------------------------------
    def call(self, leaves: Mapping[str, Any], dtype=None, device=None) -> tuple:
        """The Function (its custom backward recorded) at these leaves; outputs as a tuple."""
        args, kwargs = self.arguments(leaves, dtype, device)
        return as_tuple(self.apply(*args, **kwargs))

    def call_forward(self, leaves: Mapping[str, Any], dtype=None, device=None) -> tuple:
        """forward's own ops recorded by autograd (not the custom backward); the truth's first try.
        For an old-style forward(ctx, ...), ctx is a stub that records nothing."""
        if self.forward is None:
            raise TypeError(f"{self.name} is a plain callable: it has no forward apart from itself")
        args, kwargs = self.arguments(leaves, dtype, device)
        return as_tuple(self.forward(*args, **kwargs))

    @staticmethod
    def output_names(outputs: tuple) -> tuple[str, ...]:
        return ("out",) if len(outputs) == 1 else tuple(f"out[{k}]" for k in range(len(outputs)))

    @staticmethod
    def differentiable_outputs(outputs: tuple) -> tuple[int, ...]:
        """Indices of the outputs a gradient flows back through: floating tensors that require grad
        (an int output, or one marked non-differentiable, does not)."""
        import torch

        return tuple(k for k, o in enumerate(outputs)
                     if isinstance(o, torch.Tensor) and (o.is_floating_point() or o.is_complex()) and o.requires_grad)


def as_tuple(result: Any) -> tuple:
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def _cast(value: Any, dtype, device) -> Any:
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    if dtype is not None and value.is_floating_point():
        value = value.to(dtype)
    return value.to(device) if device is not None else value


class CtxStub:
    """The ctx an old-style forward(ctx, ...) gets when it is run as plain ops: it records nothing."""

    def __init__(self) -> None:
        self.needs_input_grad: tuple = ()
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *tensors) -> None:
        self.saved_tensors = tensors

    def save_for_forward(self, *tensors) -> None:
        pass

    def mark_dirty(self, *args) -> None:
        pass

    def mark_non_differentiable(self, *args) -> None:
        pass

    def set_materialize_grads(self, value) -> None:
        pass


def parameter_names(fn: Callable, skip_ctx: bool) -> list[str] | None:
    """forward's parameter names after ctx, in order; None when it takes *args."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if skip_ctx and params:
        params = params[1:]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return [p.name for p in params if p.kind != p.VAR_KEYWORD]
