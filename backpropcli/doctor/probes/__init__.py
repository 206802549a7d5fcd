"""Capability probes: one module per capability, each with ``NAME`` and ``run(context) -> ProbeResult``.

A probe calls the subject in one way (double backward, forward AD, torch.func, a strided input,
a lower dtype, torch.compile, …), compares what it gets with the truth or with eager autograd,
and returns its capability row and its findings. It never prints and never words a number:
``extra`` carries raw values for the registry's templates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backpropcli.doctor.results import Capability, Cost, Finding
from backpropcli.doctor.subject import Subject
from backpropcli.doctor.truth import Truth


@dataclass
class ProbeContext:
    subject: Subject
    truth: Truth
    leaves: dict[str, Any]  # the float64 base leaves the main comparison used
    tolerance: Callable[[Any, str], Any]  # (true gradient, input name) -> per-element allowed error
    first_ok: dict[str, bool]  # per differentiable input: was the first derivative right?
    cost: Cost  # probes count the forward and backward calls they make
    options: dict[str, Any] = field(default_factory=dict)  # dtype, device, compile, budget bytes


@dataclass
class ProbeResult:
    capability: Capability | None
    findings: list[Finding] = field(default_factory=list)
