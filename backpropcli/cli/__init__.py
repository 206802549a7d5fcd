"""The `backprop` command line. Each command: options -> config -> one core call -> render -> exit.

Heavy modules (torch, matplotlib, mpmath) are imported inside the commands so
that `backprop --help` stays fast.
"""

import functools
import os
import re
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

from backpropcli import __version__
from backpropcli.config import defaults
from backpropcli.present import terminal as render
from backpropcli.io import streams
from backpropcli.errors import BackpropError

# no emoji codes: "--x=-100:100:5" must not turn into an emoji. stdout goes through a
# proxy that turns a failed write (disk full, stdout closed) into one error line, exit 1;
# COLUMNS=0 or garbage is ignored rather than shrinking every line (errors too) to nothing
stdout = Console(file=streams.STDOUT, highlight=False, emoji=False, _environ=streams.sane_environ())
stderr = Console(stderr=True, highlight=False, emoji=False, _environ=streams.sane_environ())


class _OneLineErrors(TyperGroup):
    """Usage errors (unknown option, bad value) as one line on stderr, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # click's UsageError and friends derive from it
            ctx = getattr(exc, "ctx", None)
            streams.prune_suggestions(exc)
            if type(exc).__name__ != "NoArgsIsHelpError":
                path = ctx.command_path if ctx is not None else "backprop"
                _print_error(f"{exc.format_message()}{_leading_minus(exc, args)} (see '{path} --help')")
            code = exc.exit_code
        except typer.Abort:
            _print_error("aborted")
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _leading_minus(exc, args) -> str:
    """The hint for an expression that starts with '-' ('-x**2'), which click reads as an option."""
    name = getattr(exc, "option_name", None)
    if type(exc).__name__ != "NoSuchOption" or not name or name.startswith("--"):
        return ""
    tokens = list(sys.argv[1:] if args is None else args)
    token = next((t for t in tokens if t.startswith(name) and not t.startswith("--")), None)
    if token is None:
        return ""
    command = next((t for t in tokens if t in ("grad", "hessian")), "grad")
    return (f"; put -- before an expression that starts with '-': "
            f"backprop {command} --x 1 -- '{token}'")


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
    pretty_exceptions_enable=False,  # an unexpected error is a bug: a plain traceback to report
)


def _options_panel(*, name, params, ctx, markup_mode, console) -> None:
    """Typer's option panel, made to read well at 80 columns: two columns (the option with its
    value type, then its help), no "<bool>" on a flag, a "--x/--no-x" pair on two lines."""
    from rich import box
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text
    if not params:
        return
    table = Table(show_header=False, box=None, padding=(0, 1), expand=True, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    for param in params:
        names = [o for o in param.opts if o.startswith("--")] or list(param.opts)
        if getattr(param, "param_type_name", "") == "argument":
            names = [param.metavar or param.name.upper()]
        short = [o for o in param.opts if not o.startswith("--") and len(o) == 2]
        label = Text(", ".join(names + short), style="bold cyan")
        for other in param.secondary_opts:
            label.append("\n" + other, style="bold cyan")
        if not getattr(param, "is_flag", False) and getattr(param, "param_type_name", "") != "argument":
            kind = _type_name(param, ctx)
            label.append(("\n  " if len(label.plain) + len(kind) > 19 else " ") + kind, style="yellow")
        table.add_row(label, _option_help(param))
    console.print(Panel(table, border_style="dim", title=name, title_align="left", box=box.ROUNDED))


_EXAMPLES = re.compile(r",?\s*e\.g\.\s+((?:\[cyan\].*?\[/cyan\](?:,\s*|\s+or\s+)?)+)")
_DEFAULT = re.compile(r"\s*\\?\[default: ([^\]]*)\]")


def _option_help(param):
    """What an option does, then on a line of its own its example(s) and its default, so a
    wrapped line never splits "--lr" from "0.1" or "[default:" from its value."""
    from rich.text import Text

    text = " ".join((param.help or "").split())
    examples = _EXAMPLES.search(text)
    default = _DEFAULT.search(text)
    shown = None if default is None else default.group(1)
    if shown is None and param.default not in (None, False) and not getattr(param, "is_flag", False):
        shown = param.default.value if isinstance(param.default, Enum) else param.default
    text = _DEFAULT.sub("", _EXAMPLES.sub("", text)).strip()
    help_text = Text.from_markup(text)
    second = []
    if examples:
        second.append("e.g. " + examples.group(1).rstrip(", "))
    if shown is not None:
        second.append(f"[dim]\\[default: {shown}][/dim]")
    if second:
        help_text.append("\n")
        help_text.append(Text.from_markup("   ".join(second)))
    return help_text


def _type_name(param, ctx) -> str:
    """"FLOAT", "INT ≥1", "float32|float64": Typer's "<int range> [x>=1]" made short."""
    kind = (param.display_type_rich(ctx) or "").strip("<>")
    kind = kind.replace(" range", "")
    kind = {"float": "FLOAT", "int": "INT", "path": "PATH", "str": "TEXT", "text": "TEXT"}.get(kind, kind)
    low = getattr(param, "min", None)
    return kind + (f" ≥{low}" if low is not None else "")


def _use_options_panel() -> None:
    from typer import rich_utils

    rich_utils._print_options_panel = _options_panel


_use_options_panel()


def _print_error(message: str) -> None:
    # a path with a newline or an escape sequence must not split or colour the one line
    stderr.print(f"error: {streams.one_line(message)}", markup=False, soft_wrap=True)


def _interrupted() -> typer.Exit:
    number = streams.SIGNALS.received or signal.SIGINT
    streams.SIGNALS.received = None  # reported once (a library caller may run again)
    name = signal.Signals(number).name
    _print_error(f"interrupted ({name}); no partial files were left behind")
    return typer.Exit(128 + number)  # 130 for SIGINT, 143 for SIGTERM


def _guarded(command: Callable) -> Callable:
    """Expected failures become one line on stderr and their exit code."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            result = command(*args, **kwargs)
            streams.SIGNALS.check()  # an interrupt swallowed on the way (a GC callback) is not lost
            return result
        except BackpropError as exc:
            _print_error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise _interrupted() from None

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


def _paragraphs(text: str) -> str:
    """Help text without hard line breaks: a paragraph is one line, so the terminal wraps it and
    no word is left alone on a line; indented lines (examples) stay as they are."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        if all(line.startswith("  ") for line in lines):
            out.append(block)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


# ---- options shared by every command -------------------------------------------------------

def _config_option(example: str) -> Any:
    return Annotated[Optional[Path], typer.Option(
        "--config", show_default=False,
        help=f"YAML config file, e.g. [cyan]--config {example}[/cyan]. Flags given on the command line override it.")]


def _json_option(example: str) -> Any:
    return Annotated[bool, typer.Option(
        "--json", help=f"Print one JSON object on stdout and nothing else, e.g. [cyan]--json | jq {example}[/cyan].")]


ConfigOption = _config_option("configs/regress.yaml")
JsonOption = _json_option(".W")
OutOption = Annotated[
    Path,
    typer.Option("--out", help="Folder for figures and run records, e.g. [cyan]--out runs/today[/cyan]."),
]
# a flag's example is the flag itself: its help says what it does instead
PlotOption = Annotated[bool, typer.Option("--plot", help="Write the figures as PNG into --out.")]
TraceOption = Annotated[bool, typer.Option("--trace", help="Show the chain rule node by node, on the graph PyTorch "
    "runs: each node's value and each edge's local, upstream and downstream gradient.")]
GraphOption = Annotated[bool, typer.Option("--graph", help="Write a picture of the traced graph (PNG) and its Graphviz "
    "DOT text into --out.")]
MaxMemoryOption = Annotated[Optional[str], typer.Option("--max-memory", show_default=False,
    help="Memory budget; a run estimated to need more is refused before it starts, e.g. "
    "[cyan]--max-memory 8GB[/cyan]. [default: $BACKPROP_MAX_MEMORY, else 2GB]")]
AutogradGraphOption = Annotated[bool, typer.Option("--autograd-graph", help="Print PyTorch's own backward graph "
    "(grad_fn.next_functions) as a tree. It is built anew on every forward pass (a dynamic graph); a custom "
    "Function is one node in it, the report's decomposed graph many.")]


AUTOGRAD_GRAPH_TITLE = ("PyTorch's backward graph, walked from grad_fn.next_functions "
                        "(rebuilt on every forward pass: a dynamic graph)")


def _show_views(views, json_output: bool, typed: bool = False) -> dict:
    """Print the graph views of a run (unless --json); return their JSON fields."""
    if views is None:
        return {}
    from backpropcli.present import payloads

    fields = {}
    if views.trace is not None:
        fields["trace"] = payloads.trace(views.trace)
        if views.show_trace and not json_output:
            stdout.print(render.trace(views.trace, views.symbol))
    if views.autograd_graph is not None:
        fields["autograd_graph"] = views.autograd_graph
        if not json_output:
            stdout.print(render.autograd_graphs(views.autograd_graph, AUTOGRAD_GRAPH_TITLE, typed,
                                                views.of_derivative))
    return fields


class DtypeChoice(str, Enum):
    float32 = "float32"
    float64 = "float64"


class DeviceChoice(str, Enum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


def _default(section: dict, key: str) -> str:
    """A default as help shows it (escaped: rich markup would take "[default: 1]" for a style)."""
    return f"\\[default: {section[key]}]"


def _value(choice: Optional[Enum]) -> Optional[str]:
    return None if choice is None else choice.value


def _emit_json(payload: Any) -> None:
    from backpropcli.present.jsonfmt import write

    write(payload, streams.STDOUT, pretty=streams.STDOUT.isatty())
    streams.STDOUT.flush()


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

  [cyan]backprop regress --data examples/points.csv --dtype float64 --log-every 100[/cyan]
"""


@app.command(help=_paragraphs(REGRESS_HELP), no_args_is_help=False)
@_guarded
def regress(
    lr: Annotated[Optional[float], typer.Option(show_default=False,
        help=f"Learning rate, e.g. [cyan]--lr 0.1[/cyan]. {_default(defaults.REGRESS, 'lr')}")] = None,
    iters: Annotated[Optional[int], typer.Option(min=1, show_default=False,
        help=f"Gradient-descent steps, e.g. [cyan]--iters 2000[/cyan]. {_default(defaults.REGRESS, 'iters')}")] = None,
    w0: Annotated[Optional[float], typer.Option("--w0", show_default=False,
        help=f"Initial weight W, e.g. [cyan]--w0 0[/cyan]. {_default(defaults.REGRESS, 'w0')}")] = None,
    b0: Annotated[Optional[float], typer.Option("--b0", show_default=False,
        help=f"Initial bias b, e.g. [cyan]--b0 0[/cyan]. {_default(defaults.REGRESS, 'b0')}")] = None,
    dtype: Annotated[Optional[DtypeChoice], typer.Option(show_default=False,
        help=f"Floating-point type, e.g. [cyan]--dtype float64[/cyan]. {_default(defaults.REGRESS, 'dtype')}")] = None,
    data: Annotated[Optional[Path], typer.Option(show_default=False,
        help="CSV file with header x,y instead of the report's data, e.g. [cyan]--data examples/points.csv[/cyan].")] = None,
    device: Annotated[Optional[DeviceChoice], typer.Option(show_default=False,
        help=f"Where to train, e.g. [cyan]--device auto[/cyan] (cuda when available). {_default(defaults.REGRESS, 'device')}")] = None,
    tol: Annotated[Optional[float], typer.Option(show_default=False,
        help="Converged when (W, b) is within tol × max(1, |optimum|) of the least-squares optimum, e.g. [cyan]--tol 1e-6[/cyan]. "
        f"{_default(defaults.REGRESS, 'tol')}")] = None,
    log_every: Annotated[Optional[int], typer.Option(min=0, show_default=False,
        help="Print the loss every N steps on stderr (the loss that step computed, before its update), "
        "e.g. [cyan]--log-every 10[/cyan]. \\[default: 0, never]")] = None,
    zero_grad: Annotated[Optional[bool], typer.Option("--zero-grad/--no-zero-grad", show_default=False,
        help="Zero the gradients after each update, as the report does; [cyan]--no-zero-grad[/cyan] "
        "lets them accumulate, to see what goes wrong. \\[default: --zero-grad]")] = None,
    plot: PlotOption = False,
    trace: TraceOption = False,
    graph: GraphOption = False,
    autograd_graph: AutogradGraphOption = False,
    out: OutOption = Path("outputs"),
    json_output: JsonOption = False,
    config: ConfigOption = None,
    max_memory: MaxMemoryOption = None,
) -> None:
    from backpropcli.config import models as configs
    from backpropcli.present import payloads
    from backpropcli.app import runs

    cfg = configs.load(configs.RegressConfig, config, {
        "lr": lr, "iters": iters, "w0": w0, "b0": b0, "dtype": _value(dtype),
        "data": None if data is None else str(data), "device": _value(device), "tol": tol,
        "log_every": log_every, "zero_grad": zero_grad,
    })
    request = runs.RegressRequest(cfg, plot, runs.Views(trace, graph, autograd_graph), out, max_memory)
    with _step_reporter(cfg, quiet=json_output) as on_step:
        run = runs.regress(request, on_step=on_step)
    if not json_output:
        stdout.print(render.regression(run.result))
    extra = _show_views(run.views, json_output)
    if json_output:
        _emit_json({**payloads.regression(run.result, run.files), **extra})
    else:
        _print_paths(run.files)
    tip = render.advice(run.result)
    if run.result.diverged:
        _print_error(f"diverged: {tip}")
        raise typer.Exit(1)
    if tip and not json_output:
        stdout.print(tip, style="yellow", markup=False, soft_wrap=True)


class _step_reporter:
    """Progress bar (long runs on a terminal) and --log-every lines, fed by the core's callback."""

    LONG_RUN = 20_000

    def __init__(self, cfg, quiet: bool):
        self.cfg, self.quiet, self.progress = cfg, quiet, None

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
            stderr.print(f"step {step:>8}  loss (before the update) {loss:.10g}", markup=False)
        if self.progress is not None and step % 500 == 0:
            self.progress.update(self.task, completed=step)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


# ---- grad and hessian ------------------------------------------------------------------------------

FunctionArgument = Annotated[
    Optional[str],
    typer.Argument(metavar="FUNCTION", help="A registered function (sinc, quad, softplus: the report's, with "
                   "hand-written backwards), e.g. [cyan]sinc[/cyan]; or any expression in x and y, in quotes, "
                   "e.g. [cyan]'x*sin(x)'[/cyan] (see the language above); one that starts with '-' goes after "
                   "--, e.g. [cyan]backprop grad --x 1 -- '-x**2'[/cyan]. May come from --config instead.",
                   show_default=False),
]
XOption = Annotated[Optional[str], typer.Option("--x", show_default=False,
    help="Point(s) for x: a number, a comma list or an inclusive range start:stop:count, "
    "e.g. [cyan]--x 2[/cyan], [cyan]--x 1,2,3[/cyan], [cyan]--x=-5:5:11[/cyan].")]
YOption = Annotated[Optional[str], typer.Option("--y", show_default=False,
    help="Point(s) for y (quad, or an expression in y), same syntax as --x, e.g. [cyan]--y 1[/cyan].")]


def _param_option(name: str) -> Any:
    return Annotated[Optional[float], typer.Option(f"--{name}", show_default=False,
        help=f"Parameter {name} of the function, e.g. [cyan]--{name} 2[/cyan]. \\[default: the function's own; "
        "an expression that uses it needs it]")]


AOption, BOption, COption = _param_option("a"), _param_option("b"), _param_option("c")
FDtypeOption = Annotated[Optional[DtypeChoice], typer.Option(show_default=False,
    help="Floating-point type, e.g. [cyan]--dtype float32[/cyan]; gradcheck always runs in float64. \\[default: float64]")]
AllOption = Annotated[bool, typer.Option("--all", help="Show the table of every point, not only the first 20.")]

GRAD_HELP = """Part B of the report: f and its gradient by a custom autograd.Function, checked four ways.

Columns: [bold]analytic[/bold] (closed form, mpmath at 50 digits: the ground truth) | the
[bold]custom[/bold] Function's analytic backward | [bold]autograd[/bold] of the report's decomposed
graph (v1, v2, ...) | a central [bold]finite difference[/bold]. A checker: exit 1 when the
custom Function disagrees with the analytic column (rtol 1e-10 in float64, 1e-5 in
float32) or torch.autograd.gradcheck fails.

The report's naive graphs break where the custom Functions do not: sinc at x = 0
gives nan, softplus at x = 1000 overflows.

Examples:

  [cyan]backprop grad sinc --x 2.0[/cyan]

  [cyan]backprop grad quad --a 1 --b 2 --c 3 --x 1 --y 1[/cyan]

  [cyan]backprop grad softplus --x=-1000,0.5,1000 --json[/cyan]

  [cyan]backprop grad sinc --x=-10:10:201 --plot[/cyan]

[bold]Any function you type[/bold]: an expression in quotes instead of a name. It is parsed, never
run: numbers, the variables [bold]x[/bold] and [bold]y[/bold], the parameters [bold]a b c[/bold] (give them with
--a/--b/--c), the constants [bold]pi[/bold] and [bold]e[/bold], [bold]+ - * /[/bold], [bold]**[/bold] or [bold]^[/bold] for powers, unary minus,
parentheses, and sin cos tan asin acos atan sinh cosh tanh exp expm1 log log1p sqrt
abs sigmoid softplus. The analytic column is then sympy's derivative of the same tree at
50 digits (the limit where the formula is 0/0), the autograd column goes through the
expression's graph (v1, v2, ...: --trace, --graph, --autograd-graph show it), each point
says how many digits that graph lost and the node where the loss is born, and exit 1
means the graph is numerically unsafe there.

  [cyan]backprop grad 'x*sin(x)' --x 2[/cyan]

  [cyan]backprop grad '(cos(x) - 1)/x^2' --x=1e-8:1:50 --plot[/cyan]   (cancels: exit 1)

  [cyan]backprop grad 'a*x**2 + b*x*y + c*y**2' --a 1 --b 2 --c 3 --x 1 --y 1 --trace[/cyan]

  [cyan]backprop grad 'sin(x)/x' --x 0[/cyan]   (truth: the limit 0; graph: nan; exit 1)

  [cyan]backprop grad 'exp(-x^2/2)/sqrt(2*pi)' --x 1 --json[/cyan]
"""

HESSIAN_HELP = """Report section 3.4: second derivatives, through a differentiable backward.

Columns: [bold]analytic[/bold] (mpmath, 50 digits) | [bold]custom[/bold]: reverse over reverse,
torch.autograd.grad(..., create_graph=True) twice, so the custom backward is itself
differentiated | [bold]autograd[/bold] of the report's graph of f | a central
[bold]finite difference[/bold] of the gradient | for sinc and softplus, autograd of the report's
graph of f' (Figure 7 for softplus: v1 = e^x, v2 = v1 + 1, v3 = 1/v2, v4 = v1*v3).
Exit 1 when the custom column disagrees or torch.autograd.gradgradcheck fails.

Examples:

  [cyan]backprop hessian softplus --x 0.5[/cyan]

  [cyan]backprop hessian sinc --x 0[/cyan]

  [cyan]backprop hessian quad --a 1 --b 2 --c 3 --x 1 --y 1 --json[/cyan]

[bold]Any function you type[/bold] (the language of [bold]backprop grad --help[/bold]: x, y, a, b, c, pi, e,
+ - * / ** ^ and sin cos tan ... sigmoid softplus): the Hessian by reverse over reverse through
its graph against sympy's second derivatives at 50 digits, and, for one variable, autograd
through the graph of the symbolic f′ (the report's Figure 7, for any f).

  [cyan]backprop hessian 'log(1 + exp(x))' --x 0.5[/cyan]   (the report's softplus, typed)

  [cyan]backprop hessian 'x^3*y + e^x' --x 1 --y 2[/cyan]
"""


def _check(order: int, function, options: dict, show_all: bool, plot: bool, views, out: Path, json_output: bool,
           config, max_memory: str | None = None) -> None:
    from backpropcli.config import models as configs
    from backpropcli.present import payloads
    from backpropcli.app import runs

    cfg = configs.load_function(function, config, options)
    request = runs.CheckRequest(cfg, order, plot, views, out, max_memory, show_all and not json_output)
    with _point_progress(quiet=json_output) as progress:
        run = runs.check(request, progress=progress)
    result = run.check
    if not json_output:
        stdout.print(render.check_tables(result, show_all, run.spec.derivative_graph_title))
    extra = _show_views(run.views, json_output, typed=run.spec.custom is None)
    if json_output:
        _emit_json({**payloads.check(result, cfg, run.files), **extra})
    else:
        _print_paths(run.files)
    if not result.ok:
        why = render.why_failed(result)
        if why is not None:  # a typed expression: where its graph breaks, and why
            _print_error(f"{result.command} check failed for {result.function}: autograd through its graph "
                         f"disagrees with the 50-digit truth {why}")
            raise typer.Exit(1)
        _print_error(f"{result.command} check failed for {result.function}: {render.what_failed(result)}")
        raise typer.Exit(1)


class _point_progress:
    """A progress bar over the 50-digit references when there are many points and stdout is a terminal."""

    MANY = 2_000

    def __init__(self, quiet: bool):
        self.wanted = not quiet and stdout.is_terminal
        self.progress = None

    def __enter__(self):
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.progress is None:
            if not self.wanted or total < self.MANY:
                return
            from rich.progress import Progress

            self.progress = Progress(console=stdout, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("50-digit references", total=total)
        if done % 200 == 0 or done == total:
            self.progress.update(self.task, completed=done)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


def _check_command(name: str, order: int) -> Callable:
    """`grad` (order 1) and `hessian` (order 2) take the same options; only the order differs."""

    config_option = _config_option("configs/sinc.yaml" if order == 1 else "configs/softplus.yaml")
    json_option = _json_option("'.points[0].gradients.x'" if order == 1 else "'.points[0].hessian.custom'")

    def command(
        function: FunctionArgument = None,
        x: XOption = None,
        y: YOption = None,
        a: AOption = None,
        b: BOption = None,
        c: COption = None,
        dtype: FDtypeOption = None,
        show_all: AllOption = False,
        plot: PlotOption = False,
        trace: TraceOption = False,
        graph: GraphOption = False,
        autograd_graph: AutogradGraphOption = False,
        out: OutOption = Path("outputs"),
        json_output: json_option = False,
        config: config_option = None,
        max_memory: MaxMemoryOption = None,
    ) -> None:
        from backpropcli.app import runs

        options = {"x": x, "y": y, "a": a, "b": b, "c": c, "dtype": _value(dtype)}
        _check(order, function, options, show_all, plot, runs.Views(trace, graph, autograd_graph), out, json_output,
               config, max_memory)

    command.__name__ = name
    return _guarded(command)


app.command("grad", help=_paragraphs(GRAD_HELP))(_check_command("grad", 1))
app.command("hessian", help=_paragraphs(HESSIAN_HELP))(_check_command("hessian", 2))


# ---- check: the doctor of a user's Function -----------------------------------------------------

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

TargetArgument = Annotated[Optional[str], typer.Argument(metavar="TARGET", show_default=False,
    help="The Function to check, e.g. [cyan]examples/my_ops.py:MySinc[/cyan] or "
    "[cyan]mypackage.ops:Gelu[/cyan]. May come from --config instead.")]
ReferenceOption = Annotated[Optional[str], typer.Option("--reference", show_default=False,
    help="The truth to judge against: a built-in's name or an expression in x (and y, a, b, c), e.g. "
    "[cyan]--reference sinc[/cyan] or [cyan]--reference 'sin(x)/x'[/cyan]. "
    "[default: autograd, else finite differences]")]
DebugOption = Annotated[bool, typer.Option("--debug", help="On a load error show the full traceback of the "
    "user's code instead of one line, e.g. [cyan]--debug[/cyan].")]
CheckAllOption = Annotated[bool, typer.Option("--all", help="Show every point in the table, not only the first "
    "20 and the wrong ones, e.g. [cyan]--all[/cyan].")]
CheckDtypeOption = Annotated[Optional[DtypeChoice], typer.Option(show_default=False,
    help="Inputs of the custom column, e.g. [cyan]--dtype float32[/cyan] (judged at float32's tolerance; the "
    "truth stays float64). [default: float64]")]

CheckTimeoutOption = Annotated[Optional[float], typer.Option("--timeout", min=0.001, show_default=False,
    help="Seconds the user's code may run while importing, and again while being checked, before check "
    "stops it and names the line it hung on (exit 2 at import, 1 later), e.g. [cyan]--timeout 10[/cyan]. "
    "[default: 60]")]


def _param_takes(name: str) -> Any:
    return Annotated[Optional[float], typer.Option(f"--{name}", show_default=False,
        help=f"Passed to the Function as {name} when its forward takes {name} (and to the reference), "
        f"e.g. [cyan]--{name} 2[/cyan].")]


@app.command("check", help=_paragraphs(CHECK_HELP))
@_guarded
def check(
    target: TargetArgument = None,
    x: XOption = None,
    y: Annotated[Optional[str], typer.Option("--y", show_default=False,
        help="Point(s) for a second tensor input, same syntax as --x, e.g. [cyan]--y 1[/cyan].")] = None,
    a: _param_takes("a") = None,
    b: _param_takes("b") = None,
    c: _param_takes("c") = None,
    reference: ReferenceOption = None,
    dtype: CheckDtypeOption = None,
    show_all: CheckAllOption = False,
    timeout: CheckTimeoutOption = None,
    json_output: _json_option(".ok") = False,
    config: _config_option("configs/check.yaml") = None,
    debug: DebugOption = False,
) -> None:
    from backpropcli.config import models as configs
    from backpropcli.present import payloads
    from backpropcli.app import runs

    with _debuggable(debug):
        cfg = configs.load(configs.DoctorConfig, config, {
            "target": target, "x": x, "y": y, "a": a, "b": b, "c": c, "reference": reference,
            "dtype": _value(dtype), "timeout": timeout})
        run = runs.doctor(runs.DoctorRequest(cfg))
    result = run.diagnosis
    if json_output:
        _emit_json(payloads.doctor(run))
    else:
        stdout.print(render.doctor(result, show_all))
    if not result.ok:
        first = next(f for f in result.findings if f.severity == "error" or f.code == "nothing-checked")
        _print_error(f"check failed for {result.target}: {first.code}: {first.message}")
        raise typer.Exit(1)


class _debuggable:
    """With --debug, an expected failure's whole traceback (the user's own, which the one-line
    error hides) goes to stderr before _guarded prints the line and exits with its code."""

    def __init__(self, debug: bool):
        self.debug = debug

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if self.debug and isinstance(exc, BackpropError):
            import traceback

            exc.__suppress_context__ = False  # the loader raises `from None`: show what it hid
            stderr.print("".join(traceback.format_exception(exc)), markup=False, highlight=False, end="",
                         soft_wrap=True)
        return False


# ---- report ------------------------------------------------------------------------------------

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


@app.command(help=_paragraphs(REPORT_HELP))
@_guarded
def report(
    out: Annotated[Path, typer.Option("--out", help="Folder for the report and its figures, e.g. "
                                      "[cyan]--out /tmp/report[/cyan].")] = Path("outputs/report"),
    config_dir: Annotated[Optional[Path], typer.Option(
        "--config-dir", help="Folder with regress.yaml, regress-converged.yaml, sinc.yaml, quad.yaml and "
        "softplus.yaml, e.g. [cyan]--config-dir configs[/cyan]. Default: the report's own configs, "
        "shipped with backprop.")] = None,
    json_output: _json_option(".ok") = False,
) -> None:
    from backpropcli.app import runs

    built = runs.report(runs.ReportRequest(config_dir, out))
    if json_output:
        _emit_json({"command": "report", "ok": built.ok, "report": str(built.markdown), "html": str(built.html),
                    "checks": [{"name": v.name, "ok": v.ok, "detail": v.detail} for v in built.verdicts],
                    "files": [str(p) for p in built.files], "sections": built.sections})
    else:
        stdout.print(render.report_summary(built))
        stdout.print(f"report: {built.markdown}  (and {built.html.name}, {len(built.files)} files in {built.folder})",
                     markup=False, soft_wrap=True)
    if not built.ok:
        failed = [v.name for v in built.verdicts if not v.ok]
        _print_error(f"{len(failed)} check(s) in the report failed: {failed[0]}" + (" ..." if len(failed) > 1 else ""))
        raise typer.Exit(1)


def main() -> None:
    streams.prepare_process()  # signals, ASCII fallback for a non-UTF-8 stdout, matplotlib's backend
    try:
        app()
    finally:
        streams.flush_at_exit()
