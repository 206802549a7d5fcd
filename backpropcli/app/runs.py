"""The application layer: one function per command.

Each takes a typed request and returns a result dataclass: the numbers, every
file it wrote and the graph views that were asked for. Nothing here prints or
exits; progress goes to a callback. cli.py renders these results for a
terminal or as JSON; report.py renders them as Markdown and HTML.

Heavy modules (torch, matplotlib, mpmath, pydantic) are imported inside the
functions, so importing this module stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

StepCallback = Callable[[int, float], None]  # (iteration, loss)
PointCallback = Callable[[int, int], None]  # (points done, total)


@dataclass(frozen=True)
class Views:
    """What to show of the graph behind a result: --trace, --graph, --autograd-graph."""

    trace: bool = False
    graph: bool = False
    autograd_graph: bool = False

    def __bool__(self) -> bool:
        return self.trace or self.graph or self.autograd_graph


@dataclass
class GraphViews:
    """The views computed for one result: the chain-rule trace, PyTorch's backward graph
    (trees by kind), and the picture and DOT files written."""

    symbol: str  # what the graph computes: "f", "f′", "∂f/∂x", "L"
    trace: Any | None = None  # trace.Trace, for --trace and --graph
    autograd_graph: dict[str, dict] | None = None
    files: list[Path] = field(default_factory=list)
    show_trace: bool = False  # asked for with --trace (--graph alone computes it without showing it)
    of_derivative: bool = False  # the backward graphs are of f′ (a Hessian), recorded by create_graph=True


# ---- shared steps -------------------------------------------------------------------------------


def _folder(out: Path) -> Path:
    from backpropcli.io.files import prepare_dir

    return prepare_dir(out)


def _figures(paths: list[Path]) -> list[Path]:
    from backpropcli.present.payloads import FIGURE_SUFFIXES

    return [p for p in paths if p.suffix in FIGURE_SUFFIXES]


def stem(name: str) -> str:
    """A file-name-safe form of a function's name (an expression may hold '/' or '*')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "f"


def write_graph(traced, folder: Path, name: str, symbol: str) -> list[Path]:
    """The traced graph as a picture (PNG) and as Graphviz DOT text."""
    from backpropcli.io.files import write_text
    from backpropcli.present.figures import graph as pictures

    return [pictures.graph_picture(traced, folder / f"{name}.png", symbol),
            write_text(folder / f"{name}.dot", pictures.dot_text(traced, symbol))]


def graph_views(views: Views, make_trace: Callable, make_trees: Callable, symbol: str, name: str,
                out: Path) -> GraphViews | None:
    """Compute the views asked for, once; write the graph files when --graph asks."""
    if not views:
        return None
    shown = GraphViews(symbol, show_trace=views.trace)
    if views.trace or views.graph:
        shown.trace = make_trace()
    if views.graph:
        shown.files = write_graph(shown.trace, _folder(out), f"{name}-graph", symbol)
    if views.autograd_graph:
        shown.autograd_graph = make_trees()
    return shown


# ---- regress ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegressRequest:
    config: Any  # config.RegressConfig, resolved (defaults < file < flags)
    plot: bool = False
    views: Views = Views()
    out: Path = Path("outputs")
    max_memory: str | None = None  # "8GB"; None: BACKPROP_MAX_MEMORY or 2 GB (budget.py)


@dataclass
class RegressRun:
    result: Any  # regression.RegressionResult
    files: list[Path]  # every file written, in order
    views: GraphViews | None = None

    @property
    def plots(self) -> list[Path]:
        """The figures among the files."""
        return _figures(self.files)


def regression_figures(result, folder: Path, prefix: str) -> list[Path]:
    """Figures 1 and 2 of the report: the fitted line and the loss curve."""
    from backpropcli.present.figures import regression as figures

    return [figures.regression_line(result, folder / f"{prefix}-line.png"),
            figures.loss_curve(result, folder / f"{prefix}-loss.png")]


def _config_record(result, folder: Path) -> Path:
    import yaml

    from backpropcli.io.files import write_text

    record = "# resolved config of this run (defaults < --config file < flags)\n"
    from backpropcli.present.payloads import regress_config

    config = {k: v for k, v in regress_config(result).items() if not (k in ("x", "y") and v is None)}
    record += yaml.safe_dump(config, sort_keys=False)  # with --data: no x, y (runnable again as a config)
    return write_text(folder / "regress-config.yaml", record)


def regress(request: RegressRequest, on_step: StepCallback | None = None) -> RegressRun:
    """Part A: train, then write the figures and the resolved config (--plot) and the graph views."""
    from backpropcli.core import regression
    from backpropcli.core import trace as traces

    from backpropcli.io import budget

    cfg = request.config
    limit = budget.limit(request.max_memory)
    dataset = regression.load_dataset(cfg)
    budget.check_regression(cfg.iters, len(dataset.x), request.views.trace or request.views.graph, limit)
    if request.plot or request.views.graph:
        _folder(request.out)  # fail before a long run, not after it
    result = regression.train(cfg, on_step=on_step, data=dataset)

    def write(folder: Path) -> tuple[list[Path], GraphViews | None]:
        files = regression_figures(result, folder, "regress") + [_config_record(result, folder)] if request.plot else []
        views = graph_views(request.views, lambda: traces.regression_trace(cfg, dataset),
                            lambda: traces.regression_autograd_graph(cfg, dataset), "L", "regress", folder)
        return files, views

    files, views = _staged(request.out, request.plot or request.views.graph, write)
    return RegressRun(result, files, views)


def _staged(out: Path, writes: bool, write: Callable) -> tuple[list[Path], GraphViews | None]:
    """Run ``write(folder)`` in a staging folder and move what it wrote into ``out`` together
    (files.Staging: nothing partial on an interrupt, one run's set under concurrent runs)."""
    if not writes:
        return write(out)  # writes nothing: no folder needed
    from backpropcli.io.files import Staging

    with Staging(out) as stage:
        files, views = write(stage.folder)
        moved = stage.publish(files + (views.files if views else []))
    if views is not None:
        views.files = [moved[p] for p in views.files]
    return [moved[p] for p in files] + (views.files if views else []), views


# ---- grad and hessian --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckRequest:
    """A derivative check of order 1 (grad) or 2 (hessian) of one function.

    ``config`` is the function's resolved config (config.load_function): its
    ``function`` names a registered function or holds an expression's text.
    """

    config: Any
    order: int = 1
    plot: bool = False
    views: Views = Views()
    out: Path = Path("outputs")
    max_memory: str | None = None  # "8GB"; None: BACKPROP_MAX_MEMORY or 2 GB (budget.py)
    show_all: bool = False  # the table of every point will be rendered: it counts against the budget


@dataclass
class CheckRun:
    check: Any  # checks.Check
    spec: Any  # functions.FunctionSpec
    config: Any
    files: list[Path]
    views: GraphViews | None = None

    @property
    def plots(self) -> list[Path]:
        return _figures(self.files)


PLOT_POINTS = 201


def plot_range(spec, points: dict) -> dict:
    """A range of 201 points along the first variable: around a single point, or across the
    points given (with a margin); the other variables at their first value."""
    import sys

    first = spec.variables[0]
    lo, hi = min(points[first]), max(points[first])
    # centre and half-width, each finite for any finite lo, hi (hi - lo overflows at ±1e308)
    mid, half = lo / 2 + hi / 2, hi / 2 - lo / 2
    half = 1.05 * half if hi > lo else 5.0 * max(1.0, abs(lo) / 10)
    top = sys.float_info.max
    xs = [min(top, max(-top, mid + half * (2 * i / (PLOT_POINTS - 1) - 1))) for i in range(PLOT_POINTS)]
    return {v: (xs if v == first else points[v][:1]) for v in spec.variables}


def derivative_symbol(spec, order: int) -> str:
    """What the traced graph computes: f for a gradient; f′ (or ∂f/∂x) for a Hessian."""
    if order == 1:
        return "f"
    return "f′" if len(spec.variables) == 1 else f"∂f/∂{spec.variables[0]}"


def check(request: CheckRequest, progress: PointCallback | None = None) -> CheckRun:
    """grad / hessian: the check at every point, its figure (--plot) and the graph views of the first point."""
    from backpropcli import functions
    from backpropcli.io import budget
    from backpropcli.core import derivatives as checks
    from backpropcli.core import trace as traces

    cfg, order = request.config, checks.Order(request.order)
    limit = budget.limit(request.max_memory)
    spec = functions.resolve(cfg.function, cfg.model_dump())
    points = {v: getattr(cfg, v) for v in spec.variables}
    params = {p: getattr(cfg, p) for p in spec.params}
    budget.check_points(max(map(len, points.values())), len(spec.variables), order, request.show_all, limit)
    if request.plot or request.views.graph:
        _folder(request.out)
    result = checks.derivatives(spec, points, params, order, cfg.dtype, progress=progress)
    name = f"{order.command}-{stem(spec.name)}"
    first = result.points[0].inputs  # several points: the views of the first
    second = order is checks.Order.HESSIAN
    # a Hessian traces the graph of f' where the function has one; else the graph of f
    traced_order = order if spec.derivative_graph is not None else checks.Order.GRADIENT

    def write(folder: Path) -> tuple[list[Path], GraphViews | None]:
        files = []
        if request.plot:
            from backpropcli.present.figures import curves

            # a curve is drawn densely: around a single point, or across the points given, a range of
            # PLOT_POINTS (its columns only: no gradcheck); the checked points are marked on it
            dense = len(result.points) >= PLOT_POINTS
            curve = result if dense else checks.derivatives(
                spec, plot_range(spec, points), params, order, cfg.dtype, gradcheck=False)
            files.append(curves.check_curves(curve, folder / f"{name}.png", requested=None if dense else result))
        views = graph_views(request.views, lambda: traces.function_trace(spec, first, params, traced_order == 2),
                            lambda: traces.function_autograd_graphs(spec, first, params, second),
                            derivative_symbol(spec, traced_order), name, folder)
        if views is not None:
            views.of_derivative = second
        return files, views

    files, views = _staged(request.out, request.plot or request.views.graph, write)
    return CheckRun(result, spec, cfg, files, views)


# ---- check: the doctor of a user's Function -------------------------------------------------------

DOCTOR_VARIABLES = ("x", "y")
DOCTOR_PARAMS = ("a", "b", "c")


@dataclass(frozen=True)
class DoctorRequest:
    """`backprop check TARGET`: ``config`` is a resolved config.DoctorConfig."""

    config: Any


@dataclass
class DoctorRun:
    diagnosis: Any  # doctor.Diagnosis
    reference: str | None  # the --reference text, as given
    files: list[Path] = field(default_factory=list)  # check writes none

    @property
    def plots(self) -> list[Path]:
        return _figures(self.files)


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


def doctor(request: DoctorRequest) -> DoctorRun:
    """Load the user's Function (importing runs its code), then diagnose it at the points."""
    from backpropcli.doctor import diagnose as doctors
    from backpropcli import functions  # noqa: F401 - warms PyTorch's unary kernels before any large call
    from backpropcli.doctor import loader
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
    with loader.guarded(f"importing {cfg.target.rpartition(':')[0]}", cfg.timeout, InputError):
        target = loader.load(cfg.target)
    takes = given if target.inputs is None else {p: v for p, v in given.items() if p in target.inputs}
    unused = [p for p in given if p not in takes and p not in reference_params]
    if unused:
        raise InputError(f"--{unused[0]}: neither {target.name} nor the reference takes it"
                         + (f" ({target.name} takes {', '.join(target.inputs)})" if target.inputs else ""))
    with loader.guarded(f"checking {cfg.target}", cfg.timeout):
        result = doctors.diagnose(target, points, takes, reference, dtype=cfg.dtype)
    result.reference = cfg.reference
    return DoctorRun(result, cfg.reference)


# ---- report ---------------------------------------------------------------------------------------------

REGRESS_CONFIGS = {"report": "regress.yaml", "converged": "regress-converged.yaml"}


@dataclass(frozen=True)
class ReportRequest:
    # regress.yaml, regress-converged.yaml and <function>.yaml for each; None: the report's own, shipped
    config_dir: Path | None = None
    out: Path = Path("outputs/report")


@dataclass
class Verdict:
    """One verdict of the report, for the summary and the exit code."""

    name: str
    ok: bool
    detail: str


@dataclass
class TracedFigure:
    title: str  # "Figure 4"
    trace: Any
    file_stem: str
    symbol: str


@dataclass
class FunctionPart:
    """Part B for one function: its config, both checks and its traced figures."""

    spec: Any
    config: Any
    gradient: Any  # checks.Check of order 1
    hessian: Any  # checks.Check of order 2
    figures: list[TracedFigure] = field(default_factory=list)


@dataclass
class Breakage:
    """A point where the report's naive graph is expected to break: both checks there."""

    spec: Any
    gradient: Any
    hessian: Any


@dataclass
class ReportRun:
    source: str  # where the configs came from, in words
    folder: Path
    regressions: dict[str, Any]  # "report" / "converged" -> RegressionResult
    regression_figures: dict[str, list[Path]]
    loss_trace: Any
    functions: list[FunctionPart]
    breakages: list[Breakage]
    verdicts: list[Verdict]
    files: list[Path]
    markdown: Path | None = None
    html: Path | None = None
    sections: dict = field(repr=False, default_factory=dict)  # the commands' own JSON payloads
    gate: Any = None  # Gate: Figure 3, one node of a traced figure
    discussion: Any = None  # Discussion: the report's discussion points, run

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)


@dataclass
class Gate:
    """Figure 3: one gate of a real run, upstream × local = downstream on each of its inputs."""

    figure: TracedFigure  # the traced figure the node comes from
    node: str
    file: Path


@dataclass
class Discussion:
    """The report's discussion points, each shown by running it.

    (1) the graph is rebuilt on every forward pass; (3) without zero_() gradients
    accumulate; (4) without torch.no_grad() the in-place update of a leaf fails."""

    grad_fns: tuple[str, str]  # class names of two forward passes' loss.grad_fn (no addresses: the report is stable)
    same_grad_fn: bool
    grad_once: float  # dL/dW after one backward()
    grad_twice: float  # W.grad after a second backward() without zero_()
    no_zero_grad: Any  # regression.Result of the report's config with zero_grad false
    no_zero_grad_figures: list[Path]
    no_grad_error: str  # PyTorch's exact message for `W -= lr * W.grad` outside no_grad


def report_config_files() -> list[str]:
    """The configs `backprop report` reads: the two regressions and one per registered function."""
    from backpropcli import functions

    return [*REGRESS_CONFIGS.values(), *(f"{name}.yaml" for name in functions.REGISTRY)]


def report(request: ReportRequest) -> ReportRun:
    """The whole seed report: Part A and Part B recomputed, checked, and written as Markdown and HTML."""
    if request.config_dir is None:
        from importlib import resources

        with resources.as_file(resources.files("backpropcli") / "configs") as shipped:
            return _report(shipped, "the report's own experiment configs (shipped with backprop)", request.out)
    config_dir = Path(request.config_dir)
    return _report(config_dir, f"the configs in `{config_dir}/`", request.out)


def _report(config_dir: Path, source: str, out: Path) -> ReportRun:
    from backpropcli.present import payloads
    from backpropcli.present import report as reports
    from backpropcli.errors import ConfigError
    from backpropcli.io.files import write_text

    missing = [name for name in report_config_files() if not (config_dir / name).is_file()]
    if missing:
        raise ConfigError(f"{config_dir}: missing config file(s) {', '.join(missing)} (see --config-dir)")
    from backpropcli.io.files import Staging

    # built in a staging folder and moved into `out` at the end: an interrupted report leaves nothing
    with Staging(out) as stage:
        run = ReportRun(source, stage.folder, {}, {}, None, [], [], [], [])
        _report_part_a(run, config_dir)
        _report_part_b(run, config_dir)
        _report_breakages(run)
        _report_gate(run)
        _report_discussion(run)
        text = reports.markdown(run)
        run.markdown = write_text(run.folder / "report.md", text)
        run.html = write_text(run.folder / "report.html", reports.to_html(text, run.folder))
        run.files += [run.markdown, run.html]
        moved = stage.publish(run.files)
    run.folder, run.files = stage.out, [moved[p] for p in run.files]
    run.markdown, run.html = moved[run.markdown], moved[run.html]
    run.regression_figures = {k: [moved[p] for p in v] for k, v in run.regression_figures.items()}
    run.gate.file = moved[run.gate.file]
    run.discussion.no_zero_grad_figures = [moved[p] for p in run.discussion.no_zero_grad_figures]
    for key, section in run.sections.items():
        if "files" in section:
            section.update(payloads.written([moved.get(Path(p), Path(p)) for p in section["files"]]))
    return run


def _report_part_a(run: ReportRun, config_dir: Path) -> None:
    from backpropcli.config import models as config
    from backpropcli.present import payloads
    from backpropcli.core import regression
    from backpropcli.core import trace as traces

    from backpropcli.io import budget

    for key, file in REGRESS_CONFIGS.items():
        cfg = config.load(config.RegressConfig, config_dir / file)
        data = regression.load_dataset(cfg)
        budget.check_regression(cfg.iters, len(data.x), key == "report", budget.limit())
        result = regression.train(cfg, data=data)
        run.regressions[key] = result
        run.regression_figures[key] = regression_figures(result, run.folder, f"{key}-regression")
        run.files += run.regression_figures[key]
        run.sections[f"regress_{key}"] = payloads.regression(result, run.regression_figures[key])
        run.verdicts.append(Verdict(f"regression ({key} settings) ran without diverging", not result.diverged,
                                    result.verdict))
    converged = run.regressions["converged"]
    run.verdicts.append(Verdict("regression with settings that converge does converge", converged.converged,
                                f"W = {converged.W:.6g}, b = {converged.b:.6g}"))
    cfg = run.regressions["report"].config
    run.loss_trace = traces.regression_trace(cfg, regression.load_dataset(cfg))
    run.files += write_graph(run.loss_trace, run.folder, "regression-graph", "L")
    run.verdicts.append(Verdict("regression trace: each gradient is the sum of its downstream contributions",
                                run.loss_trace.consistent(1e-5), run.loss_trace.title))


def _report_part_b(run: ReportRun, config_dir: Path) -> None:
    from backpropcli import functions
    from backpropcli.io import budget
    from backpropcli.core import derivatives as checks
    from backpropcli.config import models as config
    from backpropcli.present import payloads
    from backpropcli.errors import ConfigError

    for spec in functions.REGISTRY.values():
        path = config_dir / f"{spec.name}.yaml"
        cfg = config.load_function(None, path, {})
        if cfg.function != spec.name:
            raise ConfigError(f"{path}: key 'function': this file configures {spec.name}, got {cfg.function!r}")
        for order in (1, 2):
            budget.check_points(max(len(getattr(cfg, v)) for v in spec.variables), len(spec.variables), order,
                                False, budget.limit())
        points = {v: getattr(cfg, v) for v in spec.variables}
        params = {p: getattr(cfg, p) for p in spec.params}
        part = FunctionPart(spec, cfg, *(checks.derivatives(spec, points, params, order, cfg.dtype)
                                         for order in checks.Order))
        run.functions.append(part)
        for result in (part.gradient, part.hessian):
            run.sections[f"{result.command}_{spec.name}"] = payloads.check(result, cfg, [])
            run.verdicts.append(Verdict(f"{result.command} {spec.name}: custom Function agrees with the analytic "
                                        "reference", result.ok, f"{len(result.points)} point(s), rtol {result.rtol:g}"))
    for part in run.functions:
        _report_figures(run, part)


def _report_figures(run: ReportRun, part: FunctionPart) -> None:
    """The traced graph of f (and of f′ where the report draws it) at the config's first point."""
    from backpropcli.core import trace as traces

    spec = part.spec
    first = {v: getattr(part.config, v)[0] for v in spec.variables}
    params = {p: getattr(part.config, p) for p in spec.params}
    part.figures.append(TracedFigure(spec.graph_title, traces.function_trace(spec, first, params),
                                     f"{spec.name}-graph", "f"))
    if spec.derivative_figure:
        part.figures.append(TracedFigure(spec.derivative_graph_title,
                                         traces.function_trace(spec, first, params, derivative=True),
                                         f"{spec.name}-derivative-graph", "f′"))
    for figure in part.figures:
        run.files += write_graph(figure.trace, run.folder, figure.file_stem, figure.symbol)
        run.verdicts.append(Verdict(f"{figure.title} trace ({spec.name}): the chain rule adds up",
                                    figure.trace.consistent(), figure.trace.title))


def _report_breakages(run: ReportRun) -> None:
    """At the points where the report's graphs break, the custom Functions must stay finite and right."""
    from backpropcli import functions
    from backpropcli.core import derivatives as checks
    from backpropcli.present.fmt import unsigned

    for spec in functions.REGISTRY.values():
        if not spec.singular_points:
            continue
        points = {spec.variables[0]: list(spec.singular_points)}
        params = dict(spec.param_defaults)
        broken = Breakage(spec, *(checks.derivatives(spec, points, params, order) for order in checks.Order))
        run.breakages.append(broken)
        for gp, hp in zip(broken.gradient.points, broken.hessian.points):
            (key, first), (_, second) = next(gp.entries(spec.variables)), next(hp.entries(spec.variables))
            run.verdicts.append(Verdict(
                f"{spec.name} at {key} = {gp.inputs[key]:g}: the custom Function is finite and right",
                gp.ok and hp.ok, f"f = {unsigned(gp.value):.6g}, f′ = {unsigned(first.custom):.6g}, "
                f"f″ = {unsigned(second.custom):.6g}"))


def _report_gate(run: ReportRun) -> None:
    """Figure 3 from the first function's traced graph (sinc's Figure 4 at x = 2)."""
    from backpropcli.core.trace import gate_node
    from backpropcli.present.figures.graph import gate_picture

    figure = run.functions[0].figures[0]
    node = gate_node(figure.trace)
    where = f"{figure.trace.title}: node {node}"
    path = gate_picture(figure.trace, node, run.folder / "gate.png", figure.symbol, where)
    run.gate = Gate(figure, node, path)
    run.files.append(path)
    edges = [e for e in figure.trace.edges if e.target == node and e.local is not None]
    run.verdicts.append(Verdict(f"Figure 3 ({node}): downstream = upstream × local on each input",
                                all(abs(e.downstream - e.upstream * e.local) <= 1e-12 * max(1, abs(e.downstream))
                                    for e in edges), where))


def _report_discussion(run: ReportRun) -> None:
    """Run the report's discussion points on its own regression config."""
    import dataclasses

    import torch

    from backpropcli.core import regression

    cfg = run.regressions["report"].config
    data = regression.load_dataset(cfg)
    dtype = getattr(torch, cfg.dtype)
    x, y = torch.tensor(data.x, dtype=dtype), torch.tensor(data.y, dtype=dtype)
    W = torch.tensor(cfg.w0, dtype=dtype, requires_grad=True)
    b = torch.tensor(cfg.b0, dtype=dtype, requires_grad=True)

    def loss():
        return ((y - (W * x + b)) ** 2).mean()

    # (1) a dynamic graph: every forward pass records a new one
    first, second = loss(), loss()
    grad_fns = (type(first.grad_fn).__name__, type(second.grad_fn).__name__)
    same = first.grad_fn is second.grad_fn
    # (3) backward() adds into .grad: a second call without zero_() doubles it
    first.backward()
    once = W.grad.item()
    second.backward()
    twice = W.grad.item()
    # (4) the update outside torch.no_grad(): an in-place op on a leaf that requires grad
    try:
        W -= cfg.lr * W.grad
        message = "(no error: PyTorch accepted the in-place update)"
    except RuntimeError as exc:
        message = str(exc)
    result = regression.train(dataclasses.replace(cfg, zero_grad=False) if dataclasses.is_dataclass(cfg)
                              else cfg.model_copy(update={"zero_grad": False}))
    files = regression_figures(result, run.folder, "no-zero-grad-regression")
    run.files += files
    run.discussion = Discussion(grad_fns, same, once, twice, result, files, message)
    run.verdicts.append(Verdict("discussion (1): each forward pass builds a new graph", not same,
                                f"{grad_fns[0]} and {grad_fns[1]}, first.grad_fn is second.grad_fn: {same}"))
    run.verdicts.append(Verdict("discussion (3): without zero_() a second backward() doubles the gradient",
                                abs(twice - 2 * once) <= 1e-6 * abs(twice), f"{once:.6g} then {twice:.6g}"))
    run.verdicts.append(Verdict("discussion (4): the in-place update outside torch.no_grad() is refused",
                                "leaf Variable that requires grad" in message, message))
