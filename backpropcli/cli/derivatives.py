"""`backprop grad` and `backprop hessian`: derivatives of order 1 and 2, checked four ways."""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeAlias

import typer
from typer.models import OptionInfo

from backpropcli.cli.app import Command, app
from backpropcli.cli.common import (
    AutogradGraphOption,
    DtypeChoice,
    GraphOption,
    HtmlOption,
    MaxMemoryOption,
    OutOption,
    PlotOption,
    TraceOption,
    config_option,
    emit_json,
    guarded,
    json_option,
    paragraphs,
    plain_float,
    print_error,
    print_paths,
    show_views,
    stdout,
    value_of,
)
from backpropcli.present import terminal as render

if TYPE_CHECKING:  # rich.progress loads only when a bar is shown
    from rich.progress import Progress

FunctionArgument = Annotated[
    str | None,
    typer.Argument(metavar="FUNCTION", help="A registered function (sinc, quad, softplus: the report's, with "
                   "hand-written backwards), e.g. [cyan]sinc[/cyan]; or any expression in x and y, in quotes, "
                   "e.g. [cyan]'x*sin(x)'[/cyan] (see the language above); one that starts with '-' goes after "
                   "--, e.g. [cyan]backprop grad --x 1 -- '-x**2'[/cyan]. May come from --config instead.",
                   show_default=False),
]
XOption = Annotated[str | None, typer.Option("--x", show_default=False,
    help="Point(s) for x: a number, a comma list or an inclusive range start:stop:count, "
    "e.g. [cyan]--x 2[/cyan], [cyan]--x 1,2,3[/cyan], [cyan]--x=-5:5:11[/cyan].")]
YOption = Annotated[str | None, typer.Option("--y", show_default=False,
    help="Point(s) for y (quad, or an expression in y), same syntax as --x, e.g. [cyan]--y 1[/cyan].")]


def _param_option(name: str) -> OptionInfo:
    return typer.Option(f"--{name}", show_default=False, parser=plain_float,
        help=f"Parameter {name} of the function, e.g. [cyan]--{name} 2[/cyan]. \\[default: the function's own; "
        "an expression that uses it needs it]")


AOption: TypeAlias = Annotated[float | None, _param_option("a")]
BOption: TypeAlias = Annotated[float | None, _param_option("b")]
COption: TypeAlias = Annotated[float | None, _param_option("c")]
FDtypeOption = Annotated[DtypeChoice | None, typer.Option(show_default=False,
    help="Floating-point type, e.g. [cyan]--dtype float32[/cyan]; gradcheck always runs in float64. "
    "\\[default: float64]")]
AllOption = Annotated[bool, typer.Option("--all", help="Show a row for every point, not only the first 20 and "
    "every wrong one.")]
AllColumnsOption = Annotated[bool, typer.Option("--all-columns", help="On several points, show every method's "
    "value and error (custom, autograd, finite diff, f) beside the truth, not only the judged one; wider than 80 "
    "columns.")]

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
--a/--b/--c), the constants [bold]pi[/bold] and [bold]e[/bold], [bold]+ - * /[/bold], [bold]**[/bold] or
[bold]^[/bold] for powers, unary minus,
parentheses, and sin cos tan asin acos atan sinh cosh tanh exp expm1 log log1p sqrt
abs sigmoid softplus. The analytic column is then sympy's derivative of the same tree at
50 digits (the limit where the formula is 0/0), the autograd column goes through the
expression's graph (v1, v2, ...: --trace, --graph, --autograd-graph show it), each point
says how many digits that graph lost and the node where the loss is born, and exit 1
means the graph is numerically unsafe there. A derivative is ok only within
rtol·|truth| + 8u·C of the truth, C being how far rounding each input once moves it
(docs/numerics.md). A point where f is not real, has no limit or no derivative (abs at 0),
or where sympy's truth and a numerical one disagree, is named and not checked; when no
point can be checked, exit 1 (nothing-checked).

  [cyan]backprop grad 'x*sin(x)' --x 2[/cyan]

  [cyan]backprop grad '(cos(x) - 1)/x^2' --x=1e-8:1:50 --plot[/cyan]   (cancels: exit 1)

  [cyan]backprop grad 'a*x**2 + b*x*y + c*y**2' --a 1 --b 2 --c 3 --x 1 --y 1 --trace[/cyan]

  [cyan]backprop grad 'sin(x)/x' --x 0[/cyan]   (truth: the limit 0; graph: nan; exit 1)

  [cyan]backprop grad 'exp(-x^2/2)/sqrt(2*pi)' --x 1 --json[/cyan]

  [cyan]backprop grad 'abs(x)' --x=-1,0,1[/cyan]   (x = 0: not differentiable, not checked)
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


def _check(order: int, function, options: dict, show: tuple[bool, bool], plot: bool, views, out: Path,
           json_output: bool, config, max_memory: str | None = None) -> None:
    from backpropcli.app import derivatives
    from backpropcli.config import models as configs

    show_all, all_columns = show
    cfg = configs.load_function(function, config, options)
    from backpropcli.present import payloads  # after the config: a usage error needs none of it
    request = derivatives.DerivativeRequest(cfg, order, plot, views, out, max_memory, show_all and not json_output)
    with _point_progress(quiet=json_output) as progress:
        run = derivatives.derivatives(request, progress=progress)
    result = run.check
    if not json_output:
        stdout.print(render.check_tables(result, show_all, run.spec.derivative_graph_title, all_columns))
    extra = show_views(run.views, json_output, typed=run.spec.custom is None)
    if json_output:
        emit_json({**payloads.check(result, cfg, run.files), **extra})
    else:
        print_paths(run.files)
    if not result.ok and not result.checked:
        print_error(f"{result.command} check for {result.function}: nothing-checked: "
                    f"{render.what_failed(result)}")
        raise typer.Exit(1)
    if not result.ok:
        why = render.why_failed(result)
        if why is not None:  # a typed expression: where its graph breaks, and why
            print_error(f"{result.command} check failed for {result.function}: autograd through its graph "
                         f"disagrees with the 50-digit truth {why}")
            raise typer.Exit(1)
        print_error(f"{result.command} check failed for {result.function}: {render.what_failed(result)}")
        raise typer.Exit(1)


class _point_progress:
    """A progress bar over the 50-digit references when there are many points and stdout is a terminal."""

    MANY = 2_000

    def __init__(self, quiet: bool):
        self.wanted = not quiet and stdout.is_terminal
        self.progress: Progress | None = None

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

    config_example = "configs/sinc.yaml" if order == 1 else "configs/softplus.yaml"
    json_example = "'.points[0].gradients.x'" if order == 1 else "'.points[0].hessian.custom'"

    def command(
        function: FunctionArgument = None,
        x: XOption = None,
        y: YOption = None,
        a: AOption = None,
        b: BOption = None,
        c: COption = None,
        dtype: FDtypeOption = None,
        show_all: AllOption = False,
        all_columns: AllColumnsOption = False,
        plot: PlotOption = False,
        trace: TraceOption = False,
        graph: GraphOption = False,
        autograd_graph: AutogradGraphOption = False,
        html: HtmlOption = False,
        out: OutOption = Path("outputs"),
        json_output: Annotated[bool, json_option(json_example)] = False,
        config: Annotated[Path | None, config_option(config_example)] = None,
        max_memory: MaxMemoryOption = None,
    ) -> None:
        from backpropcli.app.views import Views

        options = {"x": x, "y": y, "a": a, "b": b, "c": c, "dtype": value_of(dtype)}
        _check(order, function, options, (show_all, all_columns), plot, Views(trace, graph, autograd_graph, html), out,
               json_output, config, max_memory)

    command.__name__ = name
    return guarded(command)


app.command("grad", cls=Command, help=paragraphs(GRAD_HELP))(_check_command("grad", 1))
app.command("hessian", cls=Command, help=paragraphs(HESSIAN_HELP))(_check_command("hessian", 2))
