"""The capability probes in the order the doctor runs them (and the table lists them).

Cheap reverse-mode rows first, then forward mode and torch.func, then the rows that call the
Function in another way (strided, another dtype, twice, on copies), compile and opcheck last.
``merge`` gathers their rows and findings, saying a torch limitation (no setup_context, no vmap
rule, no jvp) once however many transforms ran into it.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

from backpropcli.doctor.probes import (
    ProbeResult,
    batched_grad,
    compile,
    deterministic,
    double_backward,
    forward_ad,
    func_grad,
    func_hessian,
    func_jacrev,
    func_vmap,
    grad_output,
    low_precision,
    non_contiguous,
    non_differentiable_inputs,
    opcheck,
    saved_tensors,
    surrogate,
)
from backpropcli.doctor.results import Capability, Finding

PROBES: tuple[ModuleType, ...] = (
    grad_output,
    double_backward,
    forward_ad,
    func_grad,
    func_vmap,
    func_jacrev,
    func_hessian,
    batched_grad,
    non_contiguous,
    low_precision,
    deterministic,
    saved_tensors,
    non_differentiable_inputs,
    surrogate,
    compile,
    opcheck,
)

NAMES: tuple[str, ...] = tuple(p.NAME for p in PROBES)


def merge(results: Iterable[ProbeResult]) -> tuple[list[Capability], list[Finding]]:
    """The rows (probes without one left out) and the findings, each (code, input, output) once."""
    rows: list[Capability] = []
    findings: list[Finding] = []
    seen: set[tuple] = set()
    for r in results:
        if r.capability is not None:
            rows.append(r.capability)
        for f in r.findings:
            key = (f.code, f.input, f.output)
            if key not in seen:
                seen.add(key)
                findings.append(f)
    return rows, findings
