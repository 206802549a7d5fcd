"""The `backprop` command line. Each command: options -> config -> one core call -> render -> exit.

Heavy modules (torch, matplotlib, mpmath) are imported inside the commands so
that `backprop --help` stays fast.
"""

import functools
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

from backpropcli import __version__, render
from backpropcli.config import RegressConfig
from backpropcli.errors import BackpropError

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


class _OneLineErrors(TyperGroup):
    """Usage errors (unknown option, bad value) as one line on stderr, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # click's UsageError and friends derive from it
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ != "NoArgsIsHelpError":
                path = ctx.command_path if ctx is not None else "backprop"
                _print_error(f"{exc.format_message()} (see '{path} --help')")
            code = exc.exit_code
        except typer.Abort:
            _print_error("aborted")
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    name="backprop",
    help="Make backpropagation visible and checkable: the report's regression, custom "
    "autograd Functions checked four ways, second derivatives, and their graphs.\n\n"
    "Example: [bold]backprop regress --lr 0.01 --iters 100 --plot[/bold]",
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _print_error(message: str) -> None:
    stderr.print(f"error: {message}", markup=False, soft_wrap=True)


def _guarded(command: Callable) -> Callable:
    """Expected failures become one line on stderr and their exit code."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BackpropError as exc:
            _print_error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _print_error("interrupted; no partial files were left behind")
            raise typer.Exit(130) from None

    return run


def _version(value: bool) -> None:
    if value:
        stdout.print(f"backprop {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Make backpropagation visible and checkable."""


# ---- options shared by every command -------------------------------------------------------

ConfigOption = Annotated[
    Optional[Path],
    typer.Option(
        "--config",
        help="YAML config file, e.g. [cyan]--config configs/regress.yaml[/cyan]. "
        "Flags given on the command line override it.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object on stdout and nothing else, e.g. [cyan]--json | jq .W[/cyan]."),
]
OutOption = Annotated[
    Path,
    typer.Option("--out", help="Folder for figures and run records, e.g. [cyan]--out runs/today[/cyan]."),
]
PlotOption = Annotated[bool, typer.Option("--plot", help="Write the figures as PNG into --out, e.g. [cyan]--plot[/cyan].")]


class DtypeChoice(str, Enum):
    float32 = "float32"
    float64 = "float64"


class DeviceChoice(str, Enum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


def _default(model, key: str) -> str:
    return f"[default: {model.model_fields[key].default}]"


def _value(choice: Optional[Enum]) -> Optional[str]:
    return None if choice is None else choice.value


def _emit_json(payload: Any) -> None:
    from backpropcli.jsonify import dumps

    sys.stdout.write(dumps(payload) + "\n")
    sys.stdout.flush()


def _print_paths(paths: list[Path]) -> None:
    for path in paths:
        stdout.print(f"wrote {path}", markup=False, soft_wrap=True)


# ---- regress ---------------------------------------------------------------------------------

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

  [cyan]backprop regress --data points.csv --dtype float64 --log-every 10[/cyan]
"""


@app.command(help=REGRESS_HELP, no_args_is_help=False)
@_guarded
def regress(
    lr: Annotated[Optional[float], typer.Option(show_default=False,
        help=f"Learning rate, e.g. [cyan]--lr 0.1[/cyan]. {_default(RegressConfig, 'lr')}")] = None,
    iters: Annotated[Optional[int], typer.Option(min=1, show_default=False,
        help=f"Gradient-descent steps, e.g. [cyan]--iters 2000[/cyan]. {_default(RegressConfig, 'iters')}")] = None,
    w0: Annotated[Optional[float], typer.Option("--w0", show_default=False,
        help=f"Initial weight W, e.g. [cyan]--w0 0[/cyan]. {_default(RegressConfig, 'w0')}")] = None,
    b0: Annotated[Optional[float], typer.Option("--b0", show_default=False,
        help=f"Initial bias b, e.g. [cyan]--b0 0[/cyan]. {_default(RegressConfig, 'b0')}")] = None,
    dtype: Annotated[Optional[DtypeChoice], typer.Option(show_default=False,
        help=f"Floating-point type, e.g. [cyan]--dtype float64[/cyan]. {_default(RegressConfig, 'dtype')}")] = None,
    data: Annotated[Optional[Path], typer.Option(show_default=False,
        help="CSV file with header x,y instead of the report's data, e.g. [cyan]--data points.csv[/cyan].")] = None,
    device: Annotated[Optional[DeviceChoice], typer.Option(show_default=False,
        help=f"Where to train, e.g. [cyan]--device auto[/cyan] (cuda when available). {_default(RegressConfig, 'device')}")] = None,
    tol: Annotated[Optional[float], typer.Option(show_default=False,
        help="Converged when |(W,b) - optimum| <= tol * max(1, |optimum|), e.g. [cyan]--tol 1e-6[/cyan]. "
        f"{_default(RegressConfig, 'tol')}")] = None,
    log_every: Annotated[Optional[int], typer.Option(min=0, show_default=False,
        help="Print the loss every N steps on stderr, e.g. [cyan]--log-every 10[/cyan]. [default: 0, never]")] = None,
    zero_grad: Annotated[Optional[bool], typer.Option("--zero-grad/--no-zero-grad", show_default=False,
        help="Zero the gradients after each update as the report does; e.g. [cyan]--no-zero-grad[/cyan] "
        "lets them accumulate, to see what goes wrong. [default: --zero-grad]")] = None,
    plot: PlotOption = False,
    out: OutOption = Path("outputs"),
    json_output: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    from backpropcli import config as configs
    from backpropcli import regression

    cfg = configs.load(RegressConfig, config, {
        "lr": lr, "iters": iters, "w0": w0, "b0": b0, "dtype": _value(dtype),
        "data": None if data is None else str(data), "device": _value(device), "tol": tol,
        "log_every": log_every, "zero_grad": zero_grad,
    })
    dataset = regression.load_dataset(cfg)
    if plot:
        _prepare_out(out)  # fail before a long run, not after it
    with _step_reporter(cfg, quiet=json_output) as on_step:
        result = regression.train(cfg, on_step=on_step, data=dataset)
    plots = _regression_plots(result, out) if plot else []

    if json_output:
        _emit_json(_regression_payload(result, plots))
    else:
        stdout.print(render.regression(result))
        _print_paths(plots)
    tip = render.advice(result)
    if result.diverged:
        _print_error(f"diverged: {tip}")
        raise typer.Exit(1)
    if tip and not json_output:
        stdout.print(tip, style="yellow", markup=False, soft_wrap=True)


def _prepare_out(out: Path) -> Path:
    from backpropcli.files import prepare_dir

    return prepare_dir(out)


def _regression_payload(result, plots: list[Path]) -> dict:
    from backpropcli.jsonify import plain

    return {
        "command": "regress",
        "config": plain(result.config),
        "W": result.W,
        "b": result.b,
        "final_loss": result.final_loss,
        "initial_loss": result.initial_loss,
        "losses": result.losses,
        "optimum": plain(result.optimum),
        "distance": result.distance,
        "grad_norm": result.grad_norm,
        "lr_max": result.curvature.lr_max,
        "iters_run": result.iters_run,
        "iters_to_converge": result.iters_to_converge,
        "verdict": result.verdict,
        "converged": result.converged,
        "diverged": result.diverged,
        "stopped_at": result.stopped_at,
        "device": result.device,
        "plots": [str(p) for p in plots],
    }


def _regression_plots(result, out: Path) -> list[Path]:
    import yaml

    from backpropcli import plots
    from backpropcli.files import write_text

    folder = _prepare_out(out)
    written = [
        plots.regression_line(result, folder / "regress-line.png"),
        plots.loss_curve(result, folder / "regress-loss.png"),
    ]
    record = "# resolved config of this run (defaults < --config file < flags)\n"
    record += yaml.safe_dump(result.config.model_dump(mode="json"), sort_keys=False)
    written.append(write_text(folder / "regress-config.yaml", record))
    return written


class _step_reporter:
    """Progress bar (long runs on a terminal) and --log-every lines, fed by the core's callback."""

    LONG_RUN = 20_000

    def __init__(self, cfg: RegressConfig, quiet: bool):
        self.cfg, self.quiet, self.progress = cfg, quiet, None

    def __enter__(self):
        if not self.quiet and stdout.is_terminal and self.cfg.iters >= self.LONG_RUN:
            from rich.progress import Progress

            self.progress = Progress(console=stdout, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("training", total=self.cfg.iters)
        return self.on_step

    def on_step(self, step: int, loss: float) -> None:
        every = self.cfg.log_every
        if every and step % every == 0:
            stderr.print(f"step {step:>8}  loss {loss:.10g}", markup=False)
        if self.progress is not None and step % 500 == 0:
            self.progress.update(self.task, completed=step)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


def main() -> None:
    app()
