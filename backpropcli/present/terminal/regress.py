"""`backprop regress`: the fit against the least-squares optimum, and one line of advice."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

from backpropcli.present.fmt import full, num
from backpropcli.present.terminal.fit import Fit

VERDICT_STYLE = {"converged": "bold green", "not converged yet": "bold yellow", "diverged": "bold red",
                 "oscillates (grads accumulate): never converges": "bold red"}


def regression(result) -> Group:
    cfg = result.config
    opt = result.optimum
    params = Table(title="Linear regression by gradient descent", title_justify="left")
    params.add_column("quantity")
    params.add_column("initial", justify="right")
    params.add_column("final", justify="right")
    params.add_column("least squares", justify="right")
    def n(value):  # the run's own precision: float32's shortest digits for a float32 run
        return full(value, cfg.dtype)

    params.add_row("W", n(result.W0), n(result.W), num(opt.W))
    params.add_row("b", n(result.b0), n(result.b), num(opt.b))
    params.add_row("loss (MSE)", n(result.initial_loss), n(result.final_loss),
                   "0 (exact fit)" if opt.exact_fit else num(opt.loss))

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
    diag.add_row("steps plain GD needs", f"never ({steps_note(result)})" if needed is None
                 else f"{needed} to reach tol {num(cfg.tol)} at this lr")
    if result.stopped_at is not None:
        diag.add_row("stopped", f"at iteration {result.stopped_at}: the loss blew up")
    verdict = Text(result.verdict, style=VERDICT_STYLE[result.verdict])
    diag.add_row("verdict", verdict)
    return Group(Fit(params), Fit(diag))


def steps_note(result) -> str:
    """Why plain GD never gets there: lr too large, or stable but too slow to count."""
    rate = result.slowest_rate
    if rate is None:
        return "lr too large"
    return (f"more than 2^62 steps: the slowest direction shrinks by only {num(rate, 2)} per step"
            if rate > 0 else "the slowest direction does not shrink at this lr")


def advice(result) -> str | None:
    """One line of advice for a bad outcome, or None."""
    lr_max = result.curvature.lr_max
    if not result.config.zero_grad and not result.diverged:
        return ("the gradients were never zeroed, so each step used the running sum of all "
                "gradients so far: (W, b) overshoots and circles the optimum instead of settling")
    if result.diverged:
        if not math.isfinite(result.initial_loss):
            return (f"the very first loss is not finite: the data or the start (W0, b0) overflow "
                    f"{result.config.dtype}; rescale them")
        if not (math.isfinite(lr_max) and lr_max > 0):
            return f"x² overflows {result.config.dtype}, so no learning rate is stable: rescale the data"
        if result.config.lr >= lr_max:
            return (f"lr {num(result.config.lr)} is above the largest stable learning rate "
                    f"2/lambda_max = {num(lr_max, 6)}; try --lr {num(0.9 * lr_max, 3)}")
        if not result.config.zero_grad:
            return "the gradients were never zeroed, so each step used their running sum; drop --no-zero-grad"
        return "the loss blew up; try a smaller --lr"
    if not result.converged and result.config.zero_grad and result.iters_to_converge is not None:
        return f"not there yet: plain GD at this lr needs {result.iters_to_converge} steps (--iters)"
    return None
