"""`backprop report`: the whole seed report, Part A and Part B recomputed, checked, and written
as Markdown and HTML."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backpropcli.app.regress import regression_figures
from backpropcli.app.views import write_explorer, write_graph
from backpropcli.present.fmt import general
from backpropcli.present.tables import trace_title

if TYPE_CHECKING:
    from backpropcli.core.derivatives import DerivativeCheck
    from backpropcli.core.regression import RegressionResult
    from backpropcli.core.trace import Trace
    from backpropcli.functions.spec import FunctionSpec

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
    title: str | None  # "Figure 4" (a function's graph_title)
    trace: Trace
    file_stem: str
    symbol: str


@dataclass
class FunctionPart:
    """Part B for one function: its config, both checks and its traced figures."""

    spec: FunctionSpec
    config: Any  # the function's config: a pydantic model generated per function (config/models.py)
    gradient: DerivativeCheck  # of order 1
    hessian: DerivativeCheck  # of order 2
    figures: list[TracedFigure] = field(default_factory=list)


@dataclass
class Breakage:
    """A point where the report's naive graph is expected to break: both checks there."""

    spec: FunctionSpec
    gradient: DerivativeCheck
    hessian: DerivativeCheck


@dataclass
class ReportRun:
    source: str  # where the configs came from, in words
    folder: Path
    regressions: dict[str, RegressionResult]  # "report" / "converged"
    regression_figures: dict[str, list[Path]]
    loss_trace: Trace | None  # None only while the run is being built
    functions: list[FunctionPart]
    breakages: list[Breakage]
    verdicts: list[Verdict]
    files: list[Path]
    markdown: Path | None = None
    html: Path | None = None
    sections: dict = field(repr=False, default_factory=dict)  # the commands' own JSON payloads
    gate: Gate | None = None  # Figure 3, one node of a traced figure
    discussion: Discussion | None = None  # the report's discussion points, run

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
    no_zero_grad: RegressionResult  # the report's config with zero_grad false
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
    from backpropcli.errors import ConfigError
    from backpropcli.io.files import write_text
    from backpropcli.present import payloads
    from backpropcli.present import report as reports

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
    assert run.gate is not None and run.discussion is not None  # both made above
    run.gate.file = moved[run.gate.file]
    run.discussion.no_zero_grad_figures = [moved[p] for p in run.discussion.no_zero_grad_figures]
    for section in run.sections.values():
        if "files" in section:
            section.update(payloads.written([moved.get(Path(p), Path(p)) for p in section["files"]]))
    return run


def _report_part_a(run: ReportRun, config_dir: Path) -> None:
    from backpropcli.config import models as config
    from backpropcli.core import regression
    from backpropcli.core import trace as traces
    from backpropcli.io import budget
    from backpropcli.present import payloads

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
                                f"W = {general(converged.W)}, b = {general(converged.b)}"))
    cfg = run.regressions["report"].config
    run.loss_trace = traces.regression_trace(cfg, regression.load_dataset(cfg))
    run.files += write_graph(run.loss_trace, run.folder, "regression-graph", "L")
    run.files.append(write_explorer(run.loss_trace, run.folder, "regression-graph", "L"))
    run.verdicts.append(Verdict("regression trace: each gradient is the sum of its downstream contributions",
                                run.loss_trace.consistent(1e-5), trace_title(run.loss_trace)))


def _report_part_b(run: ReportRun, config_dir: Path) -> None:
    from backpropcli import functions
    from backpropcli.config import models as config
    from backpropcli.core import derivatives as checks
    from backpropcli.errors import ConfigError
    from backpropcli.io import budget
    from backpropcli.present import payloads

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
        gradient, hessian = (checks.derivatives(spec, points, params, order, cfg.dtype) for order in checks.Order)
        part = FunctionPart(spec, cfg, gradient, hessian)
        run.functions.append(part)
        for result in (part.gradient, part.hessian):
            run.sections[f"{result.command}_{spec.name}"] = payloads.check(result, cfg, [])
            run.verdicts.append(Verdict(f"{result.command} {spec.name}: custom Function agrees with the analytic "
                                        "reference", result.ok,
                                        f"{len(result.points)} point(s), rtol {general(result.rtol)}"))
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
        # beside report.html: the same graph, stepped through in a browser
        run.files.append(write_explorer(figure.trace, run.folder, figure.file_stem, figure.symbol))
        run.verdicts.append(Verdict(f"{figure.title} trace ({spec.name}): the chain rule adds up",
                                    figure.trace.consistent(), trace_title(figure.trace)))


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
                f"{spec.name} at {key} = {general(gp.inputs[key])}: the custom Function is finite and right",
                gp.ok and hp.ok, f"f = {general(unsigned(gp.value))}, f′ = {general(unsigned(first.custom))}, "
                f"f″ = {general(unsigned(second.custom))}"))


def _report_gate(run: ReportRun) -> None:
    """Figure 3 from the first function's traced graph (sinc's Figure 4 at x = 2)."""
    from backpropcli.core.discussion import gate_holds
    from backpropcli.core.trace import gate_node
    from backpropcli.present.figures.graph import gate_picture

    figure = run.functions[0].figures[0]
    node = gate_node(figure.trace)
    where = f"{trace_title(figure.trace)}: node {node}"
    path = gate_picture(figure.trace, node, run.folder / "gate.png", figure.symbol, where)
    run.gate = Gate(figure, node, path)
    run.files.append(path)
    run.verdicts.append(Verdict(f"Figure 3 ({node}): downstream = upstream × local on each input",
                                gate_holds(figure.trace, node), where))


def _report_discussion(run: ReportRun) -> None:
    """Run the report's discussion points on its own regression config."""
    from backpropcli.core import discussion, regression

    cfg = run.regressions["report"].config
    found = discussion.experiments(cfg, regression.load_dataset(cfg))
    result = regression.train(cfg.model_copy(update={"zero_grad": False}))
    files = regression_figures(result, run.folder, "no-zero-grad-regression")
    run.files += files
    run.discussion = Discussion(found.grad_fns, found.same_grad_fn, found.grad_once, found.grad_twice, result, files,
                                found.no_grad_error)
    fns = found.grad_fns
    run.verdicts.append(Verdict("discussion (1): each forward pass builds a new graph", not found.same_grad_fn,
                                f"{fns[0]} and {fns[1]}, first.grad_fn is second.grad_fn: {found.same_grad_fn}"))
    run.verdicts.append(Verdict("discussion (3): without zero_() a second backward() doubles the gradient",
                                found.doubles, f"{general(found.grad_once)} then {general(found.grad_twice)}"))
    run.verdicts.append(Verdict("discussion (4): the in-place update outside torch.no_grad() is refused",
                                found.update_refused, found.no_grad_error))
