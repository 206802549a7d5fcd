"""The Typer app: one-line usage errors, --version, and an options panel that reads well at 80 columns."""

import re
import sys
from collections.abc import Sequence
from enum import Enum
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from backpropcli import __version__
from backpropcli.cli.common import print_error, stdout
from backpropcli.io import streams


class _OneLineErrors(TyperGroup):
    """Usage errors (unknown option, bad value) as one line on stderr, exit 2."""

    def format_help(self, ctx, formatter) -> None:
        _use_options_panel()
        return super().format_help(ctx, formatter)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except typer.TyperException as exc:  # click's UsageError and friends derive from it
            ctx = getattr(exc, "ctx", None)
            streams.prune_suggestions(exc)
            if type(exc).__name__ != "NoArgsIsHelpError":
                path = ctx.command_path if ctx is not None else "backprop"
                print_error(f"{exc.format_message()}{_leading_minus(exc, args)} (see '{path} --help')")
            code = exc.exit_code
        except typer.Abort:
            print_error("aborted")
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
    """Our options panel in Typer's rich help, installed when help is first drawn: the help
    module imports rich's markdown and traceback (~45 ms), which a run or a usage error never needs."""
    from typer import rich_utils

    rich_utils._print_options_panel = _options_panel


class Command(TyperCommand):
    """Every backprop command: its help drawn with the options panel above."""

    def format_help(self, ctx, formatter) -> None:
        _use_options_panel()
        return super().format_help(ctx, formatter)


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
