"""`backprop manual`: a hand-written backward pass, checked step by step."""

from pathlib import Path
from typing import Annotated

import typer

from backpropcli.cli.app import Command, app
from backpropcli.cli.common import (
    OutOption,
    PlotOption,
    debuggable,
    emit_json,
    guarded,
    paragraphs,
    print_error,
    print_paths,
    stdout,
)
from backpropcli.errors import BackpropError

MANUAL_HELP = """Check a backward pass written by hand, step by step, and say how each wrong step is wrong.

FILE.py defines [bold]inputs()[/bold] (the leaves by name; requires_grad=True marks what to
differentiate), [bold]forward(p)[/bold] (the intermediates by name in the order computed, the scalar
loss last) and [bold]backward(p, cache, grads)[/bold], which writes grads\\[name] for intermediates and
parameters and reads upstream gradients back from it. [bold]Loading it imports the file, which runs
its code[/bold]: judge only code you trust.

The truth is autograd over the same forward. backward runs twice: end to end, on its own
upstream gradients, and alone, where every upstream gradient it reads is the true one, so each
step is judged on its own. A step right alone but wrong end to end inherits the error of the
step it read from; the first step wrong alone is the root cause. A wrong step gets the tensor
check's findings (transposed, wrong-shape, missing-broadcast-sum, scaled-by, sign-flipped,
wrong-at-points, ...) and a fix. Exit 1 when a step is wrong alone or a parameter's gradient is
never written, 2 when the file lacks a function, the loss is not a scalar, a gradient is not a
tensor, or the code raises (its file and line).

Examples:

  [cyan]backprop manual examples/mlp_manual.py[/cyan]

  [cyan]backprop manual examples/mlp_manual_buggy.py[/cyan]   (exit 1)

  [cyan]backprop manual examples/mlp_manual_buggy.py --trace --plot[/cyan]   (exit 1)
"""

FileArgument = Annotated[str, typer.Argument(metavar="FILE.py", show_default=False,
    help="The file that defines inputs, forward and backward, e.g. "
    "[cyan]examples/mlp_manual.py[/cyan].")]
ManualTraceOption = Annotated[bool, typer.Option("--trace", help="Show the graph of the intermediates (what each "
    "is computed from) with the true and your gradients side by side.")]
ManualTimeoutOption = Annotated[float, typer.Option("--timeout", min=0.001, help="Seconds the user's code may run "
    "while importing, and again while being judged, before manual stops it and names the line it hung on "
    "(exit 2), e.g. [cyan]--timeout 10[/cyan].")]
ManualHtmlOption = Annotated[bool, typer.Option("--html", help="Write an explorer page into --out "
    "(manual-<file>-explorer.html): one self-contained HTML file that steps through the true graph's forward and "
    "backward pass, your gradient beside the true one at each node and each wrong one marked.")]
ManualJsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else, "
    "e.g. [cyan]--json | jq .steps[0].status[/cyan].")]
ManualDebugOption = Annotated[bool, typer.Option("--debug", help="On an error in the user's code show its full "
    "traceback instead of one line, e.g. [cyan]--debug[/cyan].")]


@app.command("manual", cls=Command, help=paragraphs(MANUAL_HELP))
@guarded
def manual(
    file: FileArgument,
    trace: ManualTraceOption = False,
    plot: PlotOption = False,
    out: OutOption = Path("outputs"),
    html: ManualHtmlOption = False,
    timeout: ManualTimeoutOption = 60.0,
    json_output: ManualJsonOption = False,
    debug: ManualDebugOption = False,
) -> None:
    from backpropcli.app import manual as manuals
    from backpropcli.present import payloads
    from backpropcli.present.terminal import manual as render

    try:
        with debuggable(debug):
            page = out / f"manual-{Path(file).stem}-explorer.html" if html else None
            run = manuals.manual(manuals.ManualRequest(file, plot, out, page, timeout))
    except BackpropError as e:
        if json_output:
            emit_json(payloads.manual_error(e))
        raise
    result = run.result
    if json_output:
        emit_json(payloads.manual(run))
    else:
        stdout.print(render.manual(result, trace))
        print_paths(run.files)
    if not result.ok:
        what = f"the first wrong step is {result.first_wrong}" if result.first_wrong else \
            f"no gradient for {', '.join(result.missing_leaves)}"
        print_error(f"manual failed for {file}: {what}")
        raise typer.Exit(1)
