"""`backprop regress`: Part A, linear regression by gradient descent."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import typer
from typer.models import OptionInfo

from backpropcli.cli.app import Command, app
from backpropcli.cli.common import (
    AutogradGraphOption,
    ConfigOption,
    DeviceChoice,
    DtypeChoice,
    GraphOption,
    HtmlOption,
    JsonOption,
    MaxMemoryOption,
    OutOption,
    PlotOption,
    TraceOption,
    default_text,
    emit_json,
    guarded,
    paragraphs,
    print_error,
    print_paths,
    show_views,
    stderr,
    stdout,
    value_of,
)
from backpropcli.config import defaults
from backpropcli.io import streams
from backpropcli.present import terminal as render
from backpropcli.present.fmt import num

if TYPE_CHECKING:  # rich.progress loads only when a bar is shown
    from rich.progress import Progress

REGRESS_HELP = """Part A of the report: fit y = W*x + b by plain gradient descent with autograd.

Each step computes the MSE, calls backward, updates W and b under torch.no_grad()
and zeroes the grads, exactly as the report does. The table compares the result
with the least-squares optimum and gives an honest verdict: with the report's
settings (lr 0.01, 100 steps) the fit has [bold]not[/bold] converged yet.

[bold]--no-zero-grad[/bold] skips the zeroing: PyTorch accumulates gradients in .grad,
so each step then uses the sum of all gradients so far, and the fit overshoots.

Examples:

  [cyan]backprop regress --lr 0.01 --iters 100 --plot[/cyan]

  [cyan]backprop regress --config configs/regress-converged.yaml --json[/cyan]

  [cyan]backprop regress --data examples/points.csv --dtype float64 --log-every 100[/cyan]
"""


def _option(example: str, what: str, key: str | None = None, *names: str, **limits: Any) -> OptionInfo:
    """An option of regress: its help says what it does, an example, and the default from defaults.py."""
    shown = default_text(defaults.REGRESS, key) if key else ""
    return typer.Option(*names, show_default=False, **limits,
                        help=f"{what}, e.g. [cyan]{example}[/cyan]. {shown}".rstrip())


LrOption: TypeAlias = Annotated[float | None, _option("--lr 0.1", "Learning rate", "lr")]
ItersOption: TypeAlias = Annotated[int | None, _option("--iters 2000", "Gradient-descent steps", "iters", min=1)]
W0Option: TypeAlias = Annotated[float | None, _option("--w0 0", "Initial weight W", "w0", "--w0")]
B0Option: TypeAlias = Annotated[float | None, _option("--b0 0", "Initial bias b", "b0", "--b0")]
RegressDtypeOption: TypeAlias = Annotated[DtypeChoice | None, _option("--dtype float64", "Floating-point type",
                                                                      "dtype")]
DataOption: TypeAlias = Annotated[Path | None, _option("--data examples/points.csv",
                                                       "CSV file with header x,y instead of the report's data")]
DeviceOption: TypeAlias = Annotated[DeviceChoice | None, _option("--device auto",
                                                                 "Where to train (auto: cuda when available)",
                                                                 "device")]
TolOption: TypeAlias = Annotated[float | None, _option("--tol 1e-6", "Converged when (W, b) is within tol × "
                                                       "max(1, |optimum|) of the least-squares optimum", "tol")]
LogEveryOption = Annotated[int | None, typer.Option(min=0, show_default=False,
    help="Print the loss every N steps on stderr (the loss that step computed, before its update), "
    "e.g. [cyan]--log-every 10[/cyan]. \\[default: 0, never]")]
ZeroGradOption = Annotated[bool | None, typer.Option("--zero-grad/--no-zero-grad", show_default=False,
    help="Zero the gradients after each update, as the report does; [cyan]--no-zero-grad[/cyan] "
    "lets them accumulate, to see what goes wrong. \\[default: --zero-grad]")]


@app.command(cls=Command, help=paragraphs(REGRESS_HELP), no_args_is_help=False)
@guarded
def regress(
    lr: LrOption = None,
    iters: ItersOption = None,
    w0: W0Option = None,
    b0: B0Option = None,
    dtype: RegressDtypeOption = None,
    data: DataOption = None,
    device: DeviceOption = None,
    tol: TolOption = None,
    log_every: LogEveryOption = None,
    zero_grad: ZeroGradOption = None,
    plot: PlotOption = False,
    trace: TraceOption = False,
    graph: GraphOption = False,
    autograd_graph: AutogradGraphOption = False,
    html: HtmlOption = False,
    out: OutOption = Path("outputs"),
    json_output: JsonOption = False,
    config: ConfigOption = None,
    max_memory: MaxMemoryOption = None,
) -> None:
    from backpropcli.app import regress as regressions
    from backpropcli.app.views import Views
    from backpropcli.config import models as configs

    cfg = configs.load(configs.RegressConfig, config, {
        "lr": lr, "iters": iters, "w0": w0, "b0": b0, "dtype": value_of(dtype),
        "data": None if data is None else str(data), "device": value_of(device), "tol": tol,
        "log_every": log_every, "zero_grad": zero_grad,
    })
    from backpropcli.present import payloads  # after the config: a usage error needs none of it
    request = regressions.RegressRequest(cfg, plot, Views(trace, graph, autograd_graph, html), out, max_memory)
    with _step_reporter(cfg, quiet=json_output) as on_step:
        run = regressions.regress(request, on_step=on_step)
    if not json_output:
        stdout.print(render.regression(run.result))
    extra = show_views(run.views, json_output)
    if json_output:
        emit_json({**payloads.regression(run.result, run.files), **extra})
    else:
        print_paths(run.files)
    tip = render.advice(run.result)
    if run.result.diverged:
        print_error(f"diverged: {tip}")
        raise typer.Exit(1)
    if tip and not json_output:
        stdout.print(tip, style="yellow", markup=False)  # prose: wrapped at the terminal's width


class _step_reporter:
    """Progress bar (long runs on a terminal) and --log-every lines, fed by the core's callback."""

    LONG_RUN = 20_000

    def __init__(self, cfg, quiet: bool):
        self.cfg, self.quiet = cfg, quiet
        self.progress: Progress | None = None

    def __enter__(self):
        if not self.quiet and stdout.is_terminal and self.cfg.iters >= self.LONG_RUN:
            from rich.progress import Progress

            self.progress = Progress(console=stdout, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("training", total=self.cfg.iters)
        return self.on_step

    def on_step(self, step: int, loss: float) -> None:
        streams.SIGNALS.check()  # a safe point for an interrupt Python swallowed
        every = self.cfg.log_every
        if every and step % every == 0:
            # the loss the step computed, at W, b before its update; the table's final loss is after the last one
            stderr.print(f"step {step:>8}  loss (before the update) {num(loss, 10)}", markup=False)
        if self.progress is not None and step % 500 == 0:
            self.progress.update(self.task, completed=step)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
