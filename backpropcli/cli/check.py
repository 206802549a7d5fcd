"""`backprop check`: the doctor of a user's own autograd.Function."""

from enum import Enum
from pathlib import Path
from typing import Annotated, TypeAlias

import typer
from typer.models import OptionInfo

from backpropcli.cli.app import Command, app
from backpropcli.cli.common import (
    MaxMemoryOption,
    OutOption,
    PlotOption,
    config_option,
    debuggable,
    emit_json,
    guarded,
    json_option,
    paragraphs,
    plain_float,
    print_error,
    print_paths,
    stdout,
    value_of,
)
from backpropcli.cli.derivatives import XOption
from backpropcli.errors import BackpropError

CHECK_HELP = """Check your own torch.autograd.Function: is its backward right, and what does it support?

TARGET is [bold]path/to/file.py:Name[/bold] or [bold]package.module:Name[/bold]: a torch.autograd.Function
subclass (with setup_context, or old style forward(ctx, ...)) or a plain callable. [bold]Loading it imports
the file, which runs its code[/bold] (as pytest does): check only the code you trust.

The inputs come from [bold]--inputs FILE.py:make_inputs[/bold] (a bare name is looked up in TARGET's file):
make_inputs() returns a tuple of positional arguments or a dict of keyword arguments.
Floating tensors with requires_grad=True are the differentiable inputs; index tensors,
tensors without grad and Python values are passed as they are. Inputs are named by forward's
parameter names. The scalar form --x/--y (1-D points) with --a/--b/--c (floats) still works.

The truth: the [bold]--reference[/bold] (FILE.py:fn, plain torch with the same signature) when given, else
autograd through the Function's own forward ops where it agrees with finite differences, else
central differences in float64. For every differentiable input the custom vector-Jacobian
product is compared with the true one element by element, after a dot-product test on signed
random directions; no dense Jacobian is built, so large inputs are cheap. Elementwise is
detected, never assumed. Findings name the bug and the input (transposed, wrong-shape,
missing-broadcast-sum, scaled-by, sign-flipped, wrong-at-points with the condition, ...) with
stable codes, like a linter's. Not checked: an input finite differences cannot reach where
forward is not traceable beyond a sample of its elements (said as truth "finite differences"),
and second derivatives beyond double backward.

Exit 1 when a gradient is wrong (a finding of severity error) or nothing could be checked, 0
with warnings only, 2 when the file, module, name or inputs cannot be loaded or forward cannot
be called on them; with --json one object is printed also then. What the user's code prints
goes to stderr; a hang ends after --timeout.

Examples:

  [cyan]backprop check examples/norms.py:LayerNorm --inputs make_inputs[/cyan]

  [cyan]backprop check --config configs/layer-norm.yaml[/cyan]   (exit 1)

  [cyan]backprop check examples/my_ops.py:MySinc --x=-5:5:101[/cyan]   (exit 1)

  [cyan]backprop check backpropcli.functions.quad:Quad --x 1 --y 1 --a 1 --b 2 --c 3[/cyan]

  [cyan]backprop check --config configs/check.yaml --json[/cyan]
"""

TargetArgument = Annotated[str | None, typer.Argument(metavar="TARGET", show_default=False,
    help="The Function to check, e.g. [cyan]examples/my_ops.py:MySinc[/cyan] or "
    "[cyan]mypackage.ops:Gelu[/cyan]. May come from --config instead.")]
ReferenceOption = Annotated[str | None, typer.Option("--reference", show_default=False,
    help="The truth to judge against: [cyan]FILE.py:fn[/cyan], a plain-torch implementation with the Function's "
    "signature, e.g. [cyan]--reference ref.py:layer_norm[/cyan]; with --x also a built-in's name or an expression "
    "in x (and y, a, b, c), e.g. [cyan]--reference 'sin(x)/x'[/cyan]. "
    "[default: autograd through forward, else finite differences]")]
InputsOption = Annotated[str | None, typer.Option("--inputs", show_default=False,
    help="[cyan]FILE.py:make_inputs[/cyan] or [cyan]package.module:make_inputs[/cyan]: a function returning the "
    "Function's arguments, a tuple (positional) or a dict (keyword), e.g. "
    "[cyan]--inputs my_ops.py:make_inputs[/cyan]. Also [cyan]inputs:[/cyan] in --config.")]
DeviceOption = Annotated[str | None, typer.Option("--device", show_default=False,
    help="Where the Function runs: cpu, cuda or auto (cuda where there is one), e.g. [cyan]--device cuda[/cyan]. "
    "[default: cpu]")]
CompileOption = Annotated[bool, typer.Option("--compile", help="Also check the Function under torch.compile, whose "
    "gradient must be the eager one, e.g. [cyan]--compile[/cyan].")]
DebugOption = Annotated[bool, typer.Option("--debug", help="On a load error show the full traceback of the "
    "user's code instead of one line, e.g. [cyan]--debug[/cyan].")]
class CheckDtype(str, Enum):
    float64 = "float64"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


CheckDtypeOption = Annotated[CheckDtype | None, typer.Option(show_default=False, metavar="DTYPE",
    help="float64, float32, bfloat16 or float16: the dtype the custom gradient is computed in, e.g. "
    "[cyan]--dtype bfloat16[/cyan]; the truth stays "
    "float64, and below float64 the error may be 3× that of the same computation by autograd in that dtype. "
    "[default: float64]")]

CheckTimeoutOption = Annotated[float | None, typer.Option("--timeout", min=0.001, show_default=False,
    help="Seconds the user's code may run while importing, and again while being checked, before check "
    "stops it and names the line it hung on (exit 2 at import, 1 later), e.g. [cyan]--timeout 10[/cyan]. "
    "[default: 60]")]


def _param_takes(name: str) -> OptionInfo:
    return typer.Option(f"--{name}", show_default=False, parser=plain_float,
        help=f"Passed to the Function as {name} when its forward takes {name} (and to the reference), "
        f"e.g. [cyan]--{name} 2[/cyan].")


ParamAOption: TypeAlias = Annotated[float | None, _param_takes("a")]
ParamBOption: TypeAlias = Annotated[float | None, _param_takes("b")]
ParamCOption: TypeAlias = Annotated[float | None, _param_takes("c")]


@app.command("check", cls=Command, help=paragraphs(CHECK_HELP))
@guarded
def check(
    target: TargetArgument = None,
    inputs: InputsOption = None,
    x: XOption = None,
    y: Annotated[str | None, typer.Option("--y", show_default=False,
        help="Point(s) for a second tensor input, same syntax as --x, e.g. [cyan]--y 1[/cyan].")] = None,
    a: ParamAOption = None,
    b: ParamBOption = None,
    c: ParamCOption = None,
    reference: ReferenceOption = None,
    dtype: CheckDtypeOption = None,
    device: DeviceOption = None,
    compile_: CompileOption = False,
    plot: PlotOption = False,
    out: OutOption = Path("outputs"),
    timeout: CheckTimeoutOption = None,
    max_memory: MaxMemoryOption = None,
    json_output: Annotated[bool, json_option(".ok")] = False,
    config: Annotated[Path | None, config_option("configs/check.yaml")] = None,
    debug: DebugOption = False,
) -> None:
    from backpropcli.app import check as checks
    from backpropcli.config import models as configs
    from backpropcli.present import payloads
    from backpropcli.present.terminal import check as view

    try:
        with debuggable(debug):
            cfg = configs.load(configs.CheckConfig, config, {
                "target": target, "inputs": inputs, "x": x, "y": y, "a": a, "b": b, "c": c,
                "reference": reference, "dtype": value_of(dtype), "device": device,
                "compile": compile_ or None, "timeout": timeout})
            run = checks.check(checks.CheckRequest(cfg, max_memory, plot, out))
    except BackpropError as exc:
        if json_output:  # --json prints one object, also when the run cannot start
            emit_json(payloads.check_error(exc))
        raise
    result = run.diagnosis
    if json_output:
        emit_json(payloads.doctor(run))
    else:
        view.render(run, stdout)
        print_paths(run.files)
    line = view.failure_line(result)
    if line is not None:
        print_error(line)
        raise typer.Exit(1)
