"""Figures 1 and 2 of the report: the regression line and the loss curve."""

from __future__ import annotations

from pathlib import Path

from backpropcli.present.figures.common import pyplot, save, stride
from backpropcli.present.fmt import general, num


def _line(w: float, b: float) -> str:
    """y = -x + 1, y = 0.5x - 2, y = 3: a unit slope without its 1, a zero term left out."""
    slope = {"1": "x", "-1": "-x", "0": ""}.get(f"{num(w, 4)}", f"{num(w, 4)}x")
    if f"{num(abs(b), 4)}" == "0":
        return f"y = {slope or '0'}"
    if not slope:
        return f"y = {num(b, 4)}"
    return f"y = {slope} {'-' if b < 0 else '+'} {num(abs(b), 4)}"


def regression_line(result, path: Path) -> Path:
    """Figure 1 of the report: the data, the fitted line, and the least-squares line."""
    plt = pyplot()
    data = result.data
    fig, ax = plt.subplots(figsize=(6, 4.2))
    lo, hi = min(data.x), max(data.x)
    pad = 0.1 * (hi - lo)
    xs = [lo - pad, hi + pad]
    every = stride(len(data.x))
    ax.scatter(data.x[::every], data.y[::every], color="black", zorder=3,
               label="data" if every == 1 else f"data (every {every}th point)")
    ax.plot(xs, [result.W * v + result.b for v in xs], color="tab:blue", lw=2,
            label=f"GD after {result.iters_run} steps: {_line(result.W, result.b)}")
    opt = result.optimum
    ax.plot(xs, [opt.W * v + opt.b for v in xs], color="tab:green", ls="--", lw=1.5,
            label=f"least squares: {_line(opt.W, opt.b)}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"Figure 1: regression line\n{result.verdict}", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)


def loss_curve(result, path: Path) -> Path:
    """Figure 2 of the report: the loss before each update, on a log axis."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    every = stride(len(result.losses))
    steps = [*range(1, len(result.losses) + 1, every)]
    positive = [max(v, 1e-300) if v == v else float("nan") for v in result.losses[::every]]
    if steps[-1] != len(result.losses):  # the last step is always drawn
        steps.append(len(result.losses))
        positive.append(max(result.losses[-1], 1e-300) if result.losses[-1] == result.losses[-1] else float("nan"))
    ax.semilogy(steps, positive, color="tab:red", lw=1.8, label="MSE before each update")
    finite = [v for v in positive if v == v and v != float("inf")]
    # the least-squares loss is often ~1e-32: draw it only where it does not squash the curve
    if finite and result.optimum.loss >= min(finite) / 100:
        ax.axhline(result.optimum.loss, color="tab:green", ls="--", lw=1, label="least-squares loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (log scale)")
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    note = "" if result.config.zero_grad else ", grads not zeroed"
    ax.set_title(f"Figure 2: loss over iterations (lr={general(result.config.lr)}{note})\n{result.verdict}",
                 fontsize=11)
    # labelled ticks at 1, 2, 5 × 10^k on a short axis, at decades on a long one; never the
    # crowded minor-tick labels matplotlib puts on a log axis spanning less than a decade
    decades = math.log10(max(finite) / min(finite)) if finite and min(finite) > 0 else 10
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5) if decades <= 2 else (1,), numticks=12))
    if decades <= 2:  # 0.2, 0.5, 1, 2, 5 read better than 2×10⁻¹; a long axis keeps 10^k
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{general(v)}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(alpha=0.3, which="major")
    ax.grid(alpha=0.1, which="minor")
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)

