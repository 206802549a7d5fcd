"""`backprop report`: the whole seed report, recomputed and checked."""

from pathlib import Path
from typing import Annotated

import typer

from backpropcli.cli.app import Command, app
from backpropcli.cli.common import emit_json, guarded, json_option, paragraphs, print_error, stdout
from backpropcli.present import terminal as render

REPORT_HELP = """The whole seed report, recomputed and checked, in one folder.

Runs Part A (regression, with the report's settings, with settings that converge,
and without zeroing the grads) and Part B (sinc, quad and softplus: first and second
derivatives, four ways each) with the report's own configs (or those in --config-dir).
Draws Figures 1 and 2, Figure 3 (one gate of a real run: upstream × local = downstream)
and the graphs of Figures 4-7 with their chain-rule traces; runs the report's discussion
points (a new graph on every forward pass, gradients that accumulate without zero_(),
the error PyTorch raises for an update outside torch.no_grad()); and lists where the
report needs correcting, decided from the numbers.

Writes report.md and report.html (self-contained: the figures are embedded). Exit 1
if any check in it fails.

Examples:

  [cyan]backprop report[/cyan]

  [cyan]backprop report --out /tmp/report --json | jq .ok[/cyan]
"""


@app.command(cls=Command, help=paragraphs(REPORT_HELP))
@guarded
def report(
    out: Annotated[Path, typer.Option("--out", help="Folder for the report and its figures, e.g. "
                                      "[cyan]--out /tmp/report[/cyan].")] = Path("outputs/report"),
    config_dir: Annotated[Path | None, typer.Option(
        "--config-dir", help="Folder with regress.yaml, regress-converged.yaml, sinc.yaml, quad.yaml and "
        "softplus.yaml, e.g. [cyan]--config-dir configs[/cyan]. Default: the report's own configs, "
        "shipped with backprop.")] = None,
    json_output: Annotated[bool, json_option(".ok")] = False,
) -> None:
    from backpropcli.app import report as reports

    built = reports.report(reports.ReportRequest(config_dir, out))
    if json_output:
        emit_json({"command": "report", "ok": built.ok, "report": str(built.markdown), "html": str(built.html),
                    "checks": [{"name": v.name, "ok": v.ok, "detail": v.detail} for v in built.verdicts],
                    "files": [str(p) for p in built.files], "sections": built.sections})
    else:
        assert built.html is not None  # report() returns only once report.html is written
        stdout.print(render.report_summary(built))
        stdout.print(f"report: {built.markdown}  (and {built.html.name}, {len(built.files)} files in {built.folder})",
                     markup=False, soft_wrap=True)
    if not built.ok:
        failed = [v.name for v in built.verdicts if not v.ok]
        print_error(f"{len(failed)} check(s) in the report failed: {failed[0]}" + (" ..." if len(failed) > 1 else ""))
        raise typer.Exit(1)
