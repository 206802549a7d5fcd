"""What the doctor returns: typed data, no prose. present/ turns it into words and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backpropcli.doctor.codes import code as registered


@dataclass
class Finding:
    """One named bug or warning. ``extra`` holds raw numbers and names for the templates
    (present/findings.py fills them); ``place`` says where: indices, a condition, a dim."""

    code: str
    input: str | None = None  # the input's name (forward's parameter name), None for the whole Function
    output: str | None = None  # the output's name when there are several
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        registered(self.code)  # an unregistered code is a bug in the checker, found at once

    @property
    def severity(self) -> str:
        return registered(self.code).severity


@dataclass
class Capability:
    """One row of the capability table. ok None: not applicable or skipped, ``detail`` says why;
    ``compared_with`` says what the row's ✓ was measured against ("the truth", "eager autograd",
    "nothing: it only ran")."""

    name: str
    ok: bool | None
    detail: str = ""
    compared_with: str = ""


@dataclass
class InputReport:
    """The per-input table's row: how far the custom gradient is from the truth for one input."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    differentiable: bool
    ok: bool | None  # None: not differentiable, or not checked
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    worst_index: tuple[int, ...] | None = None
    pattern: str | None = None  # the code that names the pattern, e.g. "transposed"; None if right


@dataclass
class Cost:
    forward_calls: int = 0
    backward_calls: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # per stage


@dataclass
class Diagnosis:
    target: str
    kind: str  # "function" | "function-ctx" | "callable"
    truth: str  # where the truth came from: "autograd through forward" | "finite differences" | "reference"
    ok: bool
    inputs: list[InputReport]
    capabilities: list[Capability]
    findings: list[Finding]
    cost: Cost
    elementwise: bool | None = None  # detected, never assumed
    dtype: str = "float64"
    warnings: list[str] = field(default_factory=list)  # Python warnings the user's code raised, once each
    reference: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # per-command extras (e.g. the scalar points table)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]
