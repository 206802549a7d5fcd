"""`backprop check`: load the user's Function and its inputs (importing runs their code), build the
Subject, then diagnose it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backpropcli.app.views import figures_among

if TYPE_CHECKING:
    from backpropcli.config.models import CheckConfig
    from backpropcli.doctor.results import Diagnosis

DOCTOR_VARIABLES = ("x", "y")
DOCTOR_PARAMS = ("a", "b", "c")


@dataclass(frozen=True)
class CheckRequest:
    """`backprop check TARGET`."""

    config: CheckConfig  # resolved (defaults < file < flags)
    max_memory: str | None = None  # "8GB"; None: BACKPROP_MAX_MEMORY or 2 GB (io/budget.py)
    plot: bool = False  # draw the worst input's truth | custom | difference (present/figures/check.py)
    out: Path = Path("outputs")


@dataclass
class CheckRun:
    diagnosis: Diagnosis
    reference: str | None  # the --reference text, as given
    files: list[Path] = field(default_factory=list)  # the figure, with --plot

    @property
    def plots(self) -> list[Path]:
        return figures_among(self.files)


def _is_spec(text: str) -> bool:
    """FILE.py:name or package.module:name (not an expression such as 'x*sin(x)')."""
    where, sep, name = text.rpartition(":")
    return bool(sep and where and name.isidentifier() and (where.endswith(".py") or "/" in where
                                                            or all(p.isidentifier() for p in where.split("."))))


def _reference(cfg: CheckConfig, subject, given: dict[str, float]) -> Any:
    """The --reference as a plain callable with the Function's arguments: FILE.py:fn as loaded, or
    (with the --x form) a built-in's name or an expression, evaluated at 50 digits per point."""
    from backpropcli import functions
    from backpropcli.doctor import build, loader, sandbox
    from backpropcli.errors import InputError

    text = cfg.reference
    if text is None:
        return None
    if _is_spec(text):
        with sandbox.guarded(f"importing {text.rpartition(':')[0]}", cfg.timeout, InputError):
            fn = loader.load_object(text)
        if not callable(fn):
            raise InputError(f"the reference {text} is {type(fn).__name__}, not a callable")
        return fn
    if cfg.inputs is not None:
        raise InputError(f"--reference {text!r}: with --inputs the reference is FILE.py:fn, a plain-torch "
                         "implementation with the Function's signature")
    spec = functions.resolve(text)
    points = [v for v in DOCTOR_VARIABLES if getattr(cfg, v) is not None]
    if tuple(spec.variables) != tuple(points):
        raise InputError(f"the reference {text!r} is a function of {', '.join(spec.variables)}; "
                         f"the points give {', '.join(points) or 'none'}")
    params = {**spec.param_defaults, **{p: v for p, v in given.items() if p in spec.params}}
    missing = [p for p in spec.params if p not in params]
    if missing:
        raise InputError(f"the reference {text!r} needs --{missing[0]}")
    return build.reference_from_spec(spec, subject, params)


def _subject(cfg: CheckConfig, target, given: dict[str, float], reference_params: set[str]):
    from backpropcli.doctor import build, sandbox
    from backpropcli.errors import InputError

    points = {v: getattr(cfg, v) for v in DOCTOR_VARIABLES if getattr(cfg, v) is not None}
    if cfg.inputs is not None:
        if points or given:
            raise InputError("give the inputs either with --inputs FILE.py:make_inputs or with --x/--y and "
                             "--a/--b/--c, not both")
        # a bare name is make_inputs beside the Function, in the target's own file or module
        beside = (cfg.target or "").rpartition(":")[0]
        spec = cfg.inputs if ":" in cfg.inputs else f"{beside}:{cfg.inputs}"
        with sandbox.guarded(f"importing {spec.rpartition(':')[0]}", cfg.timeout, InputError):
            make_inputs = build.load_inputs(spec)
        with sandbox.guarded(f"calling {spec}", cfg.timeout, InputError):
            made = make_inputs()
        return build.subject_of(target, made, name=cfg.target)
    if not points:
        raise InputError(f"what inputs? give --inputs FILE.py:make_inputs (a function returning {target.name}'s "
                         "arguments) or points with --x")
    takes = given if target.inputs is None else {p: v for p, v in given.items() if p in target.inputs}
    unused = [p for p in given if p not in takes and p not in reference_params]
    if unused:
        raise InputError(f"--{unused[0]}: neither {target.name} nor the reference takes it"
                         + (f" ({target.name} takes {', '.join(target.inputs)})" if target.inputs else ""))
    return build.subject_from_points(target, points, takes, name=cfg.target)


def check(request: CheckRequest) -> CheckRun:
    """Load the user's Function and inputs (importing runs their code), then diagnose it."""
    from backpropcli.doctor import loader
    from backpropcli.errors import InputError

    cfg = request.config
    if not cfg.target:
        raise InputError("which Function? give FILE.py:Name or package.module:Name, e.g. "
                         "'backprop check my_ops.py:LayerNorm --inputs my_ops.py:make_inputs'")
    for spec in (cfg.target, cfg.inputs, cfg.reference):  # a missing file is said before torch loads
        if spec is not None and (spec == cfg.target or _is_spec(spec)):
            loader.refuse_missing_file(spec)
    from backpropcli import functions  # noqa: F401 - warms PyTorch's unary kernels before any large call
    from backpropcli.doctor import diagnose as doctors
    from backpropcli.doctor import sandbox
    from backpropcli.io import budget
    limit = budget.limit(request.max_memory)
    given = {p: getattr(cfg, p) for p in DOCTOR_PARAMS if getattr(cfg, p) is not None}
    with sandbox.guarded(f"importing {cfg.target.rpartition(':')[0]}", cfg.timeout, InputError):
        target = loader.load(cfg.target)
    reference_params: set[str] = set()
    reference = None
    if cfg.reference is not None and not _is_spec(cfg.reference) and cfg.inputs is None:
        from backpropcli import functions as registry

        reference_params = set(registry.resolve(cfg.reference).params)
    subject = _subject(cfg, target, given, reference_params)
    if cfg.reference is not None:
        reference = _reference(cfg, subject, given)
    with sandbox.guarded(f"checking {cfg.target}", cfg.timeout):
        result = doctors.diagnose(subject, reference=reference, dtype=cfg.dtype, device=cfg.device,
                                  compile=cfg.compile, max_memory=limit, reference_label=cfg.reference)
    return CheckRun(result, cfg.reference, _figure(request, result))


def _figure(request: CheckRequest, result: Diagnosis) -> list[Path]:
    """--plot: the worst (output, input) pair as heatmaps, written atomically into --out."""
    if not request.plot:
        return []
    from backpropcli.app.views import folder_for, staged
    from backpropcli.present.figures import check as figures

    folder_for(request.out)
    name = "check-" + "".join(ch if ch.isalnum() else "-" for ch in result.target.rpartition(":")[2]) + ".png"

    def write(folder: Path) -> tuple[list[Path], None]:
        drawn = figures.check_figure(result, folder / name)
        return ([drawn] if drawn is not None else []), None

    files, _ = staged(request.out, True, write)
    return files
