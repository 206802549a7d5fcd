"""Rich renderables built from result dataclasses: one module per command, and the table fitting
they share. No numerics here, only layout; the renderers are re-exported for the CLI."""

from backpropcli.present.terminal.check import doctor
from backpropcli.present.terminal.derivatives import check_tables, what_failed, why_failed
from backpropcli.present.terminal.fit import Fit, stacked
from backpropcli.present.terminal.graphs import autograd_graphs, trace
from backpropcli.present.terminal.regression import advice, regression
from backpropcli.present.terminal.report import report_summary

__all__ = ["Fit", "advice", "autograd_graphs", "check_tables", "doctor", "regression", "report_summary",
           "stacked", "trace", "what_failed", "why_failed"]
