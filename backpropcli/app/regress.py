"""`backprop regress`: train, then write the figures, the resolved config and the graph views."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from backpropcli.app.views import GraphViews, StepCallback, Views, figures_among, folder_for, graph_views, staged

if TYPE_CHECKING:
    from backpropcli.config.models import RegressConfig
    from backpropcli.core.regression import RegressionResult


@dataclass(frozen=True)
class RegressRequest:
    config: RegressConfig  # resolved (defaults < file < flags)
    plot: bool = False
    views: Views = Views()
    out: Path = Path("outputs")
    max_memory: str | None = None  # "8GB"; None: BACKPROP_MAX_MEMORY or 2 GB (budget.py)


@dataclass
class RegressRun:
    result: RegressionResult
    files: list[Path]  # every file written, in order
    views: GraphViews | None = None

    @property
    def plots(self) -> list[Path]:
        """The figures among the files."""
        return figures_among(self.files)


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
    budget.check_regression(cfg.iters, len(dataset.x), request.views.traced, limit)
    if request.plot or request.views.writes:
        folder_for(request.out)  # fail before a long run, not after it
    result = regression.train(cfg, on_step=on_step, data=dataset)

    def write(folder: Path) -> tuple[list[Path], GraphViews | None]:
        files = regression_figures(result, folder, "regress") + [_config_record(result, folder)] if request.plot else []
        views = graph_views(request.views, lambda: traces.regression_trace(cfg, dataset),
                            lambda: traces.regression_autograd_graph(cfg, dataset), "L", "regress", folder)
        return files, views

    files, views = staged(request.out, request.plot or request.views.writes, write)
    return RegressRun(result, files, views)
