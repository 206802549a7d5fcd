"""non-differentiable-inputs: backward returns None for inputs that take no gradient.

Autograd validates backward's return only partly: a gradient for an int/bool tensor is dropped
silently, one for a Python value raises. The probe calls the Function's backward itself, with
the node as ctx, and reads the raw tuple it returns, position by position (forward's
arguments). A float tensor without requires_grad may get a gradient (the Function may be called
with it requiring one), so only integer/boolean tensors and non-tensors are judged.
Cost: 1 forward, 1 backward.
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import call, cotangents, fresh, one_line, row
from backpropcli.doctor.results import Finding
from backpropcli.doctor.subject import Input, as_tuple

NAME = "non-differentiable-inputs"
COMPARED = "backward's returned tuple, position by position"


def _why(i: Input) -> str | None:
    """Why this input takes no gradient, or None when it may take one."""
    v = i.value
    if isinstance(v, torch.Tensor):
        if v.is_floating_point() or v.is_complex():
            return None
        dtype = str(v.dtype).removeprefix("torch.")
        return f"it is {'an' if dtype[0] in 'aeiou' else 'a'} {dtype} tensor"
    return "it is None" if v is None else f"it is a Python {type(v).__name__}"


def _raw(ctx: ProbeContext) -> tuple:
    leaves = fresh(ctx)
    outputs = call(ctx, leaves)
    cots = cotangents(outputs, 121)
    diff = [k for k, c in enumerate(cots) if c is not None]
    node = outputs[diff[0]].grad_fn
    grads = [c if c is not None else (torch.zeros_like(o) if isinstance(o, torch.Tensor) else None)
             for o, c in zip(outputs, cots)]
    ctx.cost.backward_calls += 1
    return as_tuple(ctx.subject.function.backward(node, *grads))  # type: ignore[union-attr]


def run(ctx: ProbeContext) -> ProbeResult:
    if ctx.subject.function is None:
        return row(NAME, None, "a plain callable has no backward of its own", "")
    positional = [i for i in ctx.subject.inputs if not i.keyword]
    judged = [(k, i, _why(i)) for k, i in enumerate(positional) if not i.differentiable]
    judged = [(k, i, why) for k, i, why in judged if why is not None]
    if not judged:
        return row(NAME, None, "no integer, boolean or Python-value inputs", "")
    try:
        raw = _raw(ctx)
    except Exception as e:
        return row(NAME, None, f"skipped: backward raises {one_line(e)}", COMPARED)
    if len(raw) != len(positional):
        return row(NAME, False, f"backward returns {len(raw)} values for {len(positional)} inputs", COMPARED)
    findings = [Finding("grad-for-non-differentiable-input", input=i.name, extra={"why": why})
                for k, i, why in judged if raw[k] is not None]
    if findings:
        names = ", ".join(f.input or "" for f in findings)
        return row(NAME, False, f"backward returns a gradient for {names}", COMPARED, findings)
    return row(NAME, True, "backward returns None for every input that takes no gradient", COMPARED)
