"""`backprop report`: the list of its checks and the verdict."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from backpropcli.present.terminal.fit import Fit


def report_summary(report) -> Group:
    """One line per check, its mark first: the list reads down the left edge at any width."""
    table = Table(title="backprop report: the seed report recomputed and checked", title_justify="left",
                  box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True, show_edge=False)
    table.add_column("ok", justify="center", no_wrap=True)
    table.add_column("check")
    for item in report.verdicts:
        table.add_row(Text("✓", style="green") if item.ok else Text("✗", style="bold red"), item.name,
                      style=None if item.ok else "red")
    good = sum(item.ok for item in report.verdicts)
    verdict = (Text(f"all {good} checks ok", style="bold green") if report.ok
               else Text(f"{len(report.verdicts) - good} of {len(report.verdicts)} checks FAILED", style="bold red"))
    return Group(Fit(table), verdict)
