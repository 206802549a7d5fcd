"""`backprop check`: load the user's Function (importing runs its code), then diagnose it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from backpropcli.app.views import figures_among

if TYPE_CHECKING:
    from backpropcli.config.models import CheckConfig
    from backpropcli.doctor.diagnose import Diagnosis

DOCTOR_VARIABLES = ("x", "y")
DOCTOR_PARAMS = ("a", "b", "c")


@dataclass(frozen=True)
class CheckRequest:
    """`backprop check TARGET`."""

    config: CheckConfig  # resolved (defaults < file < flags)


@dataclass
class CheckRun:
    diagnosis: Diagnosis
    reference: str | None  # the --reference text, as given
    files: list[Path] = field(default_factory=list)  # check writes none

    @property
    def plots(self) -> list[Path]:
        return figures_among(self.files)


def _doctor_reference(text: str, points: dict, given: dict):
    """The --reference as a callable reference(inputs, params, order) with its own params bound,
    and the names of the params it takes."""
    from backpropcli import functions
    from backpropcli.errors import InputError

    spec = functions.resolve(text)
    if tuple(spec.variables) != tuple(points):
        have = ", ".join(points) or "none"
        raise InputError(f"the reference {text!r} is a function of {', '.join(spec.variables)}; "
                         f"the points give {have}")
    params = {**spec.param_defaults, **{p: v for p, v in given.items() if p in spec.params}}
    missing = [p for p in spec.params if p not in params]
    if missing:
        raise InputError(f"the reference {text!r} needs --{missing[0]}")
    return (lambda inputs, _target_params, order: spec.reference(inputs, params, order)), set(spec.params)


def check(request: CheckRequest) -> CheckRun:
    """Load the user's Function (importing runs its code), then diagnose it at the points."""
    from backpropcli import functions  # noqa: F401 - warms PyTorch's unary kernels before any large call
    from backpropcli.doctor import diagnose as doctors
    from backpropcli.doctor import loader, sandbox
    from backpropcli.errors import InputError

    cfg = request.config
    if not cfg.target:
        raise InputError("which Function? give FILE.py:Name or package.module:Name, "
                         "e.g. 'backprop check examples/my_ops.py:MySinc --x=-5:5:101'")
    points = {v: getattr(cfg, v) for v in DOCTOR_VARIABLES if getattr(cfg, v) is not None}
    given = {p: getattr(cfg, p) for p in DOCTOR_PARAMS if getattr(cfg, p) is not None}
    reference, reference_params = None, set()
    if cfg.reference is not None:
        reference, reference_params = _doctor_reference(cfg.reference, points, given)
    with sandbox.guarded(f"importing {cfg.target.rpartition(':')[0]}", cfg.timeout, InputError):
        target = loader.load(cfg.target)
    takes = given if target.inputs is None else {p: v for p, v in given.items() if p in target.inputs}
    unused = [p for p in given if p not in takes and p not in reference_params]
    if unused:
        raise InputError(f"--{unused[0]}: neither {target.name} nor the reference takes it"
                         + (f" ({target.name} takes {', '.join(target.inputs)})" if target.inputs else ""))
    with sandbox.guarded(f"checking {cfg.target}", cfg.timeout):
        result = doctors.diagnose(target, points, takes, reference, dtype=cfg.dtype, reference_label=cfg.reference)
    return CheckRun(result, cfg.reference)
