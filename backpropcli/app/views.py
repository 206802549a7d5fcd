"""What every command's results share: the graph views asked for (--trace, --graph,
--autograd-graph), the files a run writes, and the staging folder they are moved out of together."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backpropcli.core.trace import Trace

StepCallback = Callable[[int, float], None]  # (iteration, loss)
PointCallback = Callable[[int, int], None]  # (points done, total)


@dataclass(frozen=True)
class Views:
    """What to show of the graph behind a result: --trace, --graph, --autograd-graph, --html."""

    trace: bool = False
    graph: bool = False
    autograd_graph: bool = False
    html: bool = False  # the explorer page, stepping through the traced graph in a browser

    def __bool__(self) -> bool:
        return self.trace or self.graph or self.autograd_graph or self.html

    @property
    def traced(self) -> bool:
        """Is the chain-rule trace needed (shown, drawn or explored)?"""
        return self.trace or self.graph or self.html

    @property
    def writes(self) -> bool:
        """Do these views write files into --out?"""
        return self.graph or self.html


@dataclass
class GraphViews:
    """The views computed for one result: the chain-rule trace, PyTorch's backward graph
    (trees by kind), and the picture and DOT files written."""

    symbol: str  # what the graph computes: "f", "f′", "∂f/∂x", "L"
    trace: Trace | None = None  # for --trace and --graph
    autograd_graph: dict[str, dict] | None = None
    files: list[Path] = field(default_factory=list)
    show_trace: bool = False  # asked for with --trace (--graph alone computes it without showing it)
    of_derivative: bool = False  # the backward graphs are of f′ (a Hessian), recorded by create_graph=True


# ---- shared steps -------------------------------------------------------------------------------


def folder_for(out: Path) -> Path:
    from backpropcli.io.files import prepare_dir

    return prepare_dir(out)


def figures_among(paths: list[Path]) -> list[Path]:
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


def write_explorer(traced, folder: Path, name: str, symbol: str) -> Path:
    """The explorer page: the traced graph's forward and backward pass, step by step, in a browser."""
    from backpropcli.present import explorer

    return explorer.write(folder / f"{name}-explorer.html", traced, symbol)


def graph_views(views: Views, make_trace: Callable, make_trees: Callable, symbol: str, name: str,
                out: Path) -> GraphViews | None:
    """Compute the views asked for, once; write the graph files when --graph asks, the
    explorer page when --html does."""
    if not views:
        return None
    shown = GraphViews(symbol, show_trace=views.trace)
    if views.traced:
        shown.trace = make_trace()
    if views.graph:
        shown.files = write_graph(shown.trace, folder_for(out), f"{name}-graph", symbol)
    if views.html:
        shown.files.append(write_explorer(shown.trace, folder_for(out), name, symbol))
    if views.autograd_graph:
        shown.autograd_graph = make_trees()
    return shown


def staged(out: Path, writes: bool, write: Callable) -> tuple[list[Path], GraphViews | None]:
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
