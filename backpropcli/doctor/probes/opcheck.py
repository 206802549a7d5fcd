"""opcheck: torch.library.opcheck's registration tests, for a torch.library.custom_op target.

opcheck tests the op's registration (schema, fake/meta kernel, autograd registration, AOT
dispatch), not its maths — the other rows do that. Each of its tests is listed in the row's
detail; each failure is a warning, opcheck-fails, with the test and the error. No row for a
target that is not a custom op. Cost: opcheck calls the op about once per test (counted so).
"""

from __future__ import annotations

from typing import Any

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import device, fresh, one_line, row, seeded
from backpropcli.doctor.results import Finding

NAME = "opcheck"
COMPARED = "torch.library.opcheck's registration tests (not the maths)"


def custom_op(target) -> bool:
    from torch._library.custom_ops import CustomOpDef

    return isinstance(target, (CustomOpDef, torch._ops.OpOverload, torch._ops.OpOverloadPacket))


def _unwrapped(apply: Any) -> Any:
    """The op under the doctor's call counter (which sets __wrapped__)."""
    while not custom_op(apply) and getattr(apply, "__wrapped__", None) is not None:
        apply = apply.__wrapped__
    return apply


def run(ctx: ProbeContext) -> ProbeResult:
    op: Any = _unwrapped(ctx.subject.apply)
    if not custom_op(op):
        return ProbeResult(None)
    args, kwargs = ctx.subject.arguments(fresh(ctx), device=device(ctx))
    try:
        with seeded():
            results: dict[str, Any] = torch.library.opcheck(op, tuple(args), kwargs, raise_exception=False)
    except Exception as e:
        return row(NAME, None, f"opcheck raises {one_line(e)}", COMPARED,
                   [Finding("opcheck-fails", extra={"test": "opcheck", "why": one_line(e)})])
    ctx.cost.forward_calls += len(results)
    ctx.cost.backward_calls += 1
    findings = [Finding("opcheck-fails", extra={"test": test, "why": one_line(outcome)})
                for test, outcome in results.items() if isinstance(outcome, BaseException)]
    detail = ", ".join(f"{test} {'failed' if isinstance(outcome, BaseException) else str(outcome).lower()}"
                       for test, outcome in results.items())
    return row(NAME, not findings, detail, COMPARED, findings)
