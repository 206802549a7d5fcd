"""`backprop grad` and `hessian`: the check at every point, its figure (--plot) and the graph views."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backpropcli.app.views import GraphViews, PointCallback, Views, figures_among, folder_for, graph_views, staged, stem

if TYPE_CHECKING:
    from backpropcli.core.derivatives import DerivativeCheck
    from backpropcli.functions.spec import FunctionSpec


@dataclass(frozen=True)
class DerivativeRequest:
    """A derivative check of order 1 (grad) or 2 (hessian) of one function.

    ``config`` is the function's resolved config (config.load_function): its
    ``function`` names a registered function or holds an expression's text.
    """

    config: Any  # a pydantic model generated per function (config/models.py): its variables and params
    order: int = 1
    plot: bool = False
    views: Views = Views()
    out: Path = Path("outputs")
    max_memory: str | None = None  # "8GB"; None: BACKPROP_MAX_MEMORY or 2 GB (budget.py)
    show_all: bool = False  # the table of every point will be rendered: it counts against the budget


@dataclass
class DerivativeRun:
    check: DerivativeCheck
    spec: FunctionSpec
    config: Any
    files: list[Path]
    views: GraphViews | None = None

    @property
    def plots(self) -> list[Path]:
        return figures_among(self.files)


PLOT_POINTS = 201


def plot_range(spec, points: dict, line) -> dict:
    """PLOT_POINTS points along the line the checked points lie on (core/sampling.py): around a
    single point, or across the points given with a margin, spaced for the axis' scale."""
    from backpropcli.core import sampling

    return sampling.dense(line, points, list(spec.variables), PLOT_POINTS)


def derivative_symbol(spec, order: int) -> str:
    """What the traced graph computes: f for a gradient; f′ (or ∂f/∂x) for a Hessian."""
    if order == 1:
        return "f"
    return "f′" if len(spec.variables) == 1 else f"∂f/∂{spec.variables[0]}"


def derivatives(request: DerivativeRequest, progress: PointCallback | None = None) -> DerivativeRun:
    """grad / hessian: the check at every point, its figure (--plot) and the graph views of the first point."""
    from backpropcli import functions
    from backpropcli.core import derivatives as checks
    from backpropcli.core import trace as traces
    from backpropcli.io import budget

    cfg, order = request.config, checks.Order(request.order)
    limit = budget.limit(request.max_memory)
    spec = functions.resolve(cfg.function, cfg.model_dump())
    points = {v: getattr(cfg, v) for v in spec.variables}
    params = {p: getattr(cfg, p) for p in spec.params}
    budget.check_points(max(map(len, points.values())), len(spec.variables), order, request.show_all, limit)
    if request.plot or request.views.writes:
        folder_for(request.out)
    result = checks.derivatives(spec, points, params, order, cfg.dtype, progress=progress)
    name = f"{order.command}-{stem(spec.name)}"
    first = result.points[0].inputs  # several points: the views of the first
    second = order is checks.Order.HESSIAN
    # a Hessian traces the graph of f' where the function has one; else the graph of f
    traced_order = order if spec.derivative_graph is not None else checks.Order.GRADIENT

    def write(folder: Path) -> tuple[list[Path], GraphViews | None]:
        files = []
        if request.plot:
            from backpropcli.core import sampling
            from backpropcli.present.figures import curves

            # a curve is drawn densely along the line the points lie on: around a single point, or
            # across the points given, PLOT_POINTS of them (its columns only: no gradcheck), with the
            # checked points marked on it; points on no line (or already dense) are drawn as they are
            line = sampling.line_through(list(spec.variables), points)
            dense = len(result.points) >= PLOT_POINTS or line is None
            curve = result if dense else checks.derivatives(
                spec, plot_range(spec, points, line), params, order, cfg.dtype, gradcheck=False)
            files.append(curves.check_curves(curve, folder / f"{name}.png", requested=None if dense else result,
                                             line=line))
        views = graph_views(request.views, lambda: traces.function_trace(spec, first, params, traced_order == 2),
                            lambda: traces.function_autograd_graphs(spec, first, params, second),
                            derivative_symbol(spec, traced_order), name, folder)
        if views is not None:
            views.of_derivative = second
        return files, views

    files, views = staged(request.out, request.plot or request.views.writes, write)
    return DerivativeRun(result, spec, cfg, files, views)
