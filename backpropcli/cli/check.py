"""`backprop check`: the doctor of a user's own autograd.Function."""

from typing import Annotated, Any

import typer

from backpropcli.cli.app import app
from backpropcli.cli.common import (
    DtypeChoice,
    config_option,
    debuggable,
    emit_json,
    guarded,
    json_option,
    paragraphs,
    print_error,
    stdout,
    value_of,
)
from backpropcli.cli.derivatives import XOption
from backpropcli.present import terminal as render

CHECK_HELP = """Check your own torch.autograd.Function: is its backward right, and what does it support?

TARGET is [bold]path/to/file.py:Name[/bold] or [bold]package.module:Name[/bold]: a torch.autograd.Function
subclass (with setup_context, or old style forward(ctx, ...)) or a plain callable of one or
two tensors. [bold]Loading it imports the file, which runs its code[/bold] (as pytest does): check only
the code you trust.

At every point the custom backward is compared with the truth: the [bold]--reference[/bold] at 50
digits when given, else autograd through the Function's own forward ops, else central
differences; the capabilities (double backward, forward AD, torch.func, vmap, float32,
strides, batched gradients) are probed on a sample. Findings have stable codes, like a
linter's. A point where the truth is not finite (an overflow) is not checked, only counted.
Exit 1 when the first derivative is wrong (a finding of severity error) or no point could be
checked (nothing-checked), 0 with warnings only, 2 when the file, module or name cannot be
loaded or forward cannot be called on the points. What the user's code prints goes to stderr;
its os._exit or sys.exit is an error, never a silent exit; a hang ends after --timeout.

Examples:

  [cyan]backprop check examples/my_ops.py:MySinc --x=-5:5:101[/cyan]   (exit 1)

  [cyan]backprop check examples/my_ops.py:MySincFixed --x=-5:5:101 --reference sinc[/cyan]

  [cyan]backprop check examples/my_ops.py:MySincFixed --x 2 --reference 'sin(x)/x'[/cyan]

  [cyan]backprop check backpropcli.functions.quad:Quad --x 1 --y 1 --a 1 --b 2 --c 3[/cyan]

  [cyan]backprop check --config configs/check.yaml --json[/cyan]
"""

TargetArgument = Annotated[str | None, typer.Argument(metavar="TARGET", show_default=False,
    help="The Function to check, e.g. [cyan]examples/my_ops.py:MySinc[/cyan] or "
    "[cyan]mypackage.ops:Gelu[/cyan]. May come from --config instead.")]
ReferenceOption = Annotated[str | None, typer.Option("--reference", show_default=False,
    help="The truth to judge against: a built-in's name or an expression in x (and y, a, b, c), e.g. "
    "[cyan]--reference sinc[/cyan] or [cyan]--reference 'sin(x)/x'[/cyan]. "
    "[default: autograd, else finite differences]")]
DebugOption = Annotated[bool, typer.Option("--debug", help="On a load error show the full traceback of the "
    "user's code instead of one line, e.g. [cyan]--debug[/cyan].")]
CheckAllOption = Annotated[bool, typer.Option("--all", help="Show every point in the table, not only the first "
    "20 and the wrong ones, e.g. [cyan]--all[/cyan].")]
CheckDtypeOption = Annotated[DtypeChoice | None, typer.Option(show_default=False,
    help="Inputs of the custom column, e.g. [cyan]--dtype float32[/cyan] (judged at float32's tolerance; the "
    "truth stays float64). [default: float64]")]

CheckTimeoutOption = Annotated[float | None, typer.Option("--timeout", min=0.001, show_default=False,
    help="Seconds the user's code may run while importing, and again while being checked, before check "
    "stops it and names the line it hung on (exit 2 at import, 1 later), e.g. [cyan]--timeout 10[/cyan]. "
    "[default: 60]")]


def _param_takes(name: str) -> Any:
    return Annotated[float | None, typer.Option(f"--{name}", show_default=False,
        help=f"Passed to the Function as {name} when its forward takes {name} (and to the reference), "
        f"e.g. [cyan]--{name} 2[/cyan].")]


@app.command("check", help=paragraphs(CHECK_HELP))
@guarded
def check(
    target: TargetArgument = None,
    x: XOption = None,
    y: Annotated[str | None, typer.Option("--y", show_default=False,
        help="Point(s) for a second tensor input, same syntax as --x, e.g. [cyan]--y 1[/cyan].")] = None,
    a: _param_takes("a") = None,
    b: _param_takes("b") = None,
    c: _param_takes("c") = None,
    reference: ReferenceOption = None,
    dtype: CheckDtypeOption = None,
    show_all: CheckAllOption = False,
    timeout: CheckTimeoutOption = None,
    json_output: json_option(".ok") = False,
    config: config_option("configs/check.yaml") = None,
    debug: DebugOption = False,
) -> None:
    from backpropcli.app import check as checks
    from backpropcli.config import models as configs
    from backpropcli.present import payloads

    with debuggable(debug):
        cfg = configs.load(configs.CheckConfig, config, {
            "target": target, "x": x, "y": y, "a": a, "b": b, "c": c, "reference": reference,
            "dtype": value_of(dtype), "timeout": timeout})
        run = checks.check(checks.CheckRequest(cfg))
    result = run.diagnosis
    if json_output:
        emit_json(payloads.doctor(run))
    else:
        stdout.print(render.doctor(result, show_all))
    if not result.ok:
        first = next(f for f in result.findings if f.severity == "error" or f.code == "nothing-checked")
        print_error(f"check failed for {result.target}: {first.code}: {first.message}")
        raise typer.Exit(1)
