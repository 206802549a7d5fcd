"""Rich renderables built from result dataclasses. No numerics here: only layout."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

VERDICT_STYLE = {"converged": "bold green", "not converged yet": "bold yellow", "diverged": "bold red"}


def num(value: float, digits: int = 10) -> str:
    """A float with `digits` significant digits; nan/inf spelled out."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def regression(result) -> Group:
    cfg = result.config
    opt = result.optimum
    params = Table(title="Linear regression by gradient descent", title_justify="left")
    params.add_column("quantity")
    params.add_column("initial", justify="right")
    params.add_column("final", justify="right")
    params.add_column("least squares", justify="right")
    params.add_row("W", num(result.W0), num(result.W), num(opt.W))
    params.add_row("b", num(result.b0), num(result.b), num(opt.b))
    params.add_row("loss (MSE)", num(result.initial_loss), num(result.final_loss), num(opt.loss))

    diag = Table(show_header=False, box=None, padding=(0, 2))
    diag.add_column(style="bold")
    diag.add_column()
    diag.add_row("data", f"{result.n} points ({result.data.source}), {cfg.dtype} on {result.device}")
    diag.add_row("steps", f"{result.iters_run} of {cfg.iters} at lr {num(cfg.lr)}"
                 + ("" if cfg.zero_grad else ", grads NOT zeroed (they accumulate)"))
    diag.add_row("|(W,b) - optimum|", num(result.distance))
    diag.add_row("|grad L| at the end", num(result.grad_norm))
    diag.add_row("largest stable lr", f"2/lambda_max = {num(result.curvature.lr_max, 6)}"
                 f" (lambda_max = {num(result.curvature.lambda_max, 6)})")
    needed = result.iters_to_converge
    diag.add_row("steps plain GD needs", "never (lr too large)" if needed is None
                 else f"{needed} to reach tol {num(cfg.tol)} at this lr")
    if result.stopped_at is not None:
        diag.add_row("stopped", f"at iteration {result.stopped_at}: the loss blew up")
    verdict = Text(result.verdict, style=VERDICT_STYLE[result.verdict])
    diag.add_row("verdict", verdict)
    return Group(params, diag)


def advice(result) -> str | None:
    """One line of advice for a bad outcome, or None."""
    lr_max = result.curvature.lr_max
    if not result.config.zero_grad and not result.diverged:
        return ("the gradients were never zeroed, so each step used the running sum of all "
                "gradients so far: (W, b) overshoots and circles the optimum instead of settling")
    if result.diverged:
        if result.config.lr >= lr_max:
            return (f"lr {num(result.config.lr)} is above the largest stable learning rate "
                    f"2/lambda_max = {num(lr_max, 6)}; try --lr {num(0.9 * lr_max, 3)}")
        if not result.config.zero_grad:
            return "the gradients were never zeroed, so each step used their running sum; drop --no-zero-grad"
        return "the loss blew up; try a smaller --lr"
    if not result.converged and result.config.zero_grad and result.iters_to_converge is not None:
        return f"not there yet: plain GD at this lr needs {result.iters_to_converge} steps (--iters)"
    return None
