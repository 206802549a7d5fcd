"""What every command shares: the consoles, one-line errors and exit codes, the shared options,
JSON output and the list of files written."""

import functools
import signal
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, TypeAlias, cast

import typer
from typer.models import OptionInfo

from backpropcli.errors import BackpropError
from backpropcli.io import streams
from backpropcli.present import terminal as render

if TYPE_CHECKING:
    from rich.console import Console

# no emoji codes: "--x=-100:100:5" must not turn into an emoji. stdout goes through a
# proxy that turns a failed write (disk full, stdout closed) into one error line, exit 1;
# COLUMNS=0 or garbage is ignored rather than shrinking every line (errors too) to nothing.
# The proxy is a text stream by its methods (write, flush, isatty, fileno, encoding: all rich
# uses), not by class, hence the cast
class _LazyConsole:
    """A rich Console made on first use: importing rich's console costs ~17 ms, which a usage
    error (one plain line, print_error) never needs."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            options = dict(self._options)
            if options.pop("to_stdout", False):
                options["file"] = cast(IO[str], streams.STDOUT)
            self._console = Console(**options, highlight=False, emoji=False, _environ=streams.sane_environ())
        return getattr(self._console, name)


stdout = cast("Console", _LazyConsole(to_stdout=True))
stderr = cast("Console", _LazyConsole(stderr=True))


def print_error(message: str) -> None:
    # a path with a newline or an escape sequence must not split or colour the one line; a plain
    # write (stderr is reconfigured to replace what its encoding lacks, io/streams.py)
    sys.stderr.write(f"error: {streams.one_line(message)}\n")
    sys.stderr.flush()


def _interrupted() -> typer.Exit:
    number = streams.SIGNALS.received or signal.SIGINT
    streams.SIGNALS.received = None  # reported once (a library caller may run again)
    name = signal.Signals(number).name
    print_error(f"interrupted ({name}); no partial files were left behind")
    return typer.Exit(128 + number)  # 130 for SIGINT, 143 for SIGTERM


def guarded(command: Callable) -> Callable:
    """Expected failures become one line on stderr and their exit code."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            result = command(*args, **kwargs)
            streams.SIGNALS.check()  # an interrupt swallowed on the way (a GC callback) is not lost
            return result
        except BackpropError as exc:
            print_error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise _interrupted() from None

    return run


def paragraphs(text: str) -> str:
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

# The two options whose example differs by command. Each returns the option's metadata; the
# type goes beside it at the use: `Annotated[Path | None, config_option("configs/check.yaml")]`,
# `Annotated[bool, json_option(".ok")]` (a call is not a type, so it cannot be the annotation).

def config_option(example: str) -> OptionInfo:
    return typer.Option(
        "--config", show_default=False,
        help=f"YAML config file, e.g. [cyan]--config {example}[/cyan]. Flags given on the command line override it.")


def json_option(example: str) -> OptionInfo:
    return typer.Option(
        "--json", help=f"Print one JSON object on stdout and nothing else, e.g. [cyan]--json | jq {example}[/cyan].")


ConfigOption: TypeAlias = Annotated[Path | None, config_option("configs/regress.yaml")]
JsonOption: TypeAlias = Annotated[bool, json_option(".W")]
OutOption = Annotated[
    Path,
    typer.Option("--out", help="Folder for figures and run records, e.g. [cyan]--out runs/today[/cyan]."),
]
# a flag's example is the flag itself: its help says what it does instead
PlotOption = Annotated[bool, typer.Option("--plot", help="Write the figures as PNG into --out.")]
TraceOption = Annotated[bool, typer.Option("--trace", help="Show the chain rule node by node, on the graph PyTorch "
    "runs: each node's value and each edge's local, upstream and downstream gradient.")]
def plain_float(text: str) -> float:
    """A parameter's number, read as the language and --x read numbers (not 1_000, not ١)."""
    from backpropcli.config.points import plain_number

    try:
        if text.strip().lower().lstrip("+-") in ("inf", "infinity", "nan"):
            return float(text)  # the config says "expected a finite number"
        return plain_number(text)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


GraphOption = Annotated[bool, typer.Option("--graph", help="Write a picture of the traced graph (PNG) and its Graphviz "
    "DOT text into --out.")]
HtmlOption = Annotated[bool, typer.Option("--html", help="Write an explorer page into --out: one self-contained "
    "HTML file, no network needed, that steps through the traced graph's forward and backward pass in a browser "
    "(#step=end after its address opens the last step).")]
MaxMemoryOption = Annotated[str | None, typer.Option("--max-memory", show_default=False,
    help="Memory budget; a run estimated to need more is refused before it starts, e.g. "
    "[cyan]--max-memory 8GB[/cyan]. [default: $BACKPROP_MAX_MEMORY, else 2GB]")]
AutogradGraphOption = Annotated[bool, typer.Option("--autograd-graph", help="Print PyTorch's own backward graph "
    "(grad_fn.next_functions) as a tree. It is built anew on every forward pass (a dynamic graph); a custom "
    "Function is one node in it, the report's decomposed graph many.")]


AUTOGRAD_GRAPH_TITLE = ("PyTorch's backward graph, walked from grad_fn.next_functions "
                        "(rebuilt on every forward pass: a dynamic graph)")


def show_views(views, json_output: bool, typed: bool = False) -> dict:
    """Print the graph views of a run (unless --json); return their JSON fields."""
    if views is None:
        return {}
    from backpropcli.present import payloads

    if views.trace is not None and views.show_trace and not json_output:
        stdout.print(render.trace(views.trace, views.symbol))
    if views.autograd_graph is not None and not json_output:
        stdout.print(render.autograd_graphs(views.autograd_graph, AUTOGRAD_GRAPH_TITLE, typed,
                                            views.of_derivative))
    return payloads.views(views)


class DtypeChoice(str, Enum):
    float32 = "float32"
    float64 = "float64"


class DeviceChoice(str, Enum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


def default_text(section: dict, key: str) -> str:
    """A default as help shows it (escaped: rich markup would take "[default: 1]" for a style)."""
    return f"\\[default: {section[key]}]"


def value_of(choice: Enum | None) -> str | None:
    return None if choice is None else choice.value


def emit_json(payload: Any) -> None:
    from backpropcli.present.jsonfmt import write

    write(payload, streams.STDOUT, pretty=streams.STDOUT.isatty())
    streams.STDOUT.flush()


def print_paths(paths: list[Path]) -> None:
    for path in paths:
        stdout.print(f"wrote {path}", markup=False, soft_wrap=True)


class debuggable:
    """With --debug, an expected failure's whole traceback (the user's own, which the one-line
    error hides) goes to stderr before _guarded prints the line and exits with its code."""

    def __init__(self, debug: bool):
        self.debug = debug

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb) -> None:  # never suppresses: the error goes on to guarded
        if self.debug and isinstance(exc, BackpropError):
            import traceback

            exc.__suppress_context__ = False  # the loader raises `from None`: show what it hid
            stderr.print("".join(traceback.format_exception(exc)), markup=False, highlight=False, end="",
                         soft_wrap=True)
