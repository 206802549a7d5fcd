"""Rich renderables built from result dataclasses: one module per command, and the table fitting
they share. No numerics here, only layout; the renderers are re-exported for the CLI.

The re-exports are loaded on first use (PEP 562): every CLI module names this package at import,
and a usage error, answered before any renderer is needed, should not pay ~75 ms to import them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backpropcli.present.terminal.check import doctor
    from backpropcli.present.terminal.derivatives import check_tables, what_failed, why_failed
    from backpropcli.present.terminal.fit import Fit, stacked
    from backpropcli.present.terminal.graphs import autograd_graphs, trace
    from backpropcli.present.terminal.regress import advice, regression
    from backpropcli.present.terminal.report import report_summary

# each re-exported name and the module it lives in
_HOME = {"doctor": "check", "check_tables": "derivatives", "what_failed": "derivatives",
         "why_failed": "derivatives", "Fit": "fit", "stacked": "fit", "autograd_graphs": "graphs",
         "trace": "graphs", "report_summary": "report", "advice": "regress", "regression": "regress"}

__all__ = ["Fit", "advice", "autograd_graphs", "check_tables", "doctor", "regression", "report_summary",
           "stacked", "trace", "what_failed", "why_failed"]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
