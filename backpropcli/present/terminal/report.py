"""`backprop report`: the list of its checks and the verdict."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from backpropcli.present.terminal.fit import Fit


def report_summary(report) -> Group:
    table = Table(title="backprop report: the seed report recomputed and checked", title_justify="left")
    table.add_column("check")
    table.add_column("result", no_wrap=True)
    for item in report.verdicts:
        table.add_row(item.name, Text("ok", style="green") if item.ok else Text("FAILED", style="bold red"))
    good = sum(item.ok for item in report.verdicts)
    verdict = (Text(f"all {good} checks ok", style="bold green") if report.ok
               else Text(f"{len(report.verdicts) - good} of {len(report.verdicts)} checks FAILED", style="bold red"))
    return Group(Fit(table), verdict)
