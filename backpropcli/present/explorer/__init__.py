"""The explorer: one self-contained HTML page that steps through a traced graph's forward and
backward pass in a browser (``--html`` on grad, hessian and regress; beside `backprop report`).

The page draws the graph with the PNG picture's layout (figures.graph.drawn, so the page and
the picture agree box for box), then steps: forward, node by node in topological order,
each value appearing as it is computed; backward, node by node from the output, each
gradient ∂f/∂node as it completes and, along each input edge, the local derivative, its
rule and downstream = upstream × local. The step where nan (or an infinity) is born is
marked. ``#step=N`` / ``#step=end`` in the URL open a step. No network, no framework:
the CSS, the script (explorer.js) and the data (JSON) are inlined; numbers are text,
formatted by present/fmt.py as the terminal writes them.

Entry points:

    explorer.page(trace, symbol="f") -> str               # the HTML
    explorer.write(path, trace, symbol="f") -> Path        # written atomically

`backprop manual` (a student's hand-written backward) passes its per-node verdicts as
``students``: each node's page entry then shows the student's gradient beside the true
one, a wrong one gets a badge in the graph and a "wrong" mark on its backward step
(linked from the controls like the nan step), and the node table gains a "yours" column:

    from backpropcli.present import explorer
    students = {step.name: explorer.Student(grad=step.student_grad, wrong=step.status == "wrong",
                                            note=step.finding_text)
                for step in result.steps}
    explorer.write(folder / "manual-<name>-explorer.html", trace, "f", students)

The trace is the true graph (core.trace.Trace); nodes without an entry in ``students``
show the true gradient alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from backpropcli.present.explorer.model import Explorer, Student, explore

if TYPE_CHECKING:
    from backpropcli.core.trace import Trace

__all__ = ["Explorer", "Student", "explore", "page", "write"]


def page(trace: Trace, symbol: str = "f", students: dict[str, Student] | None = None) -> str:
    """The explorer page of a traced graph, as HTML text."""
    from backpropcli.present.explorer.markup import render

    return render(explore(trace, symbol, students))


def write(path: Path, trace: Trace, symbol: str = "f", students: dict[str, Student] | None = None) -> Path:
    """Write the page atomically; returns its path."""
    from backpropcli.io.files import write_text

    return write_text(path, page(trace, symbol, students))
