"""matplotlib figures, drawn with the Agg backend and written atomically as PNG."""

from __future__ import annotations

from pathlib import Path

from backpropcli.files import write_atomic

DPI = 150


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    plt = _pyplot()
    try:
        return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight"))
    finally:
        plt.close(fig)


def _line(w: float, b: float) -> str:
    return f"y = {w:.4g}x {'-' if b < 0 else '+'} {abs(b):.4g}"


def regression_line(result, path: Path) -> Path:
    """Figure 1 of the report: the data, the fitted line, and the least-squares line."""
    plt = _pyplot()
    data = result.data
    fig, ax = plt.subplots(figsize=(6, 4.2))
    lo, hi = min(data.x), max(data.x)
    pad = 0.1 * (hi - lo)
    xs = [lo - pad, hi + pad]
    ax.scatter(data.x, data.y, color="black", zorder=3, label="data")
    ax.plot(xs, [result.W * v + result.b for v in xs], color="tab:blue", lw=2,
            label=f"GD after {result.iters_run} steps: {_line(result.W, result.b)}")
    opt = result.optimum
    ax.plot(xs, [opt.W * v + opt.b for v in xs], color="tab:green", ls="--", lw=1.5,
            label=f"least squares: {_line(opt.W, opt.b)}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"Figure 1: regression line ({result.verdict})")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)


def loss_curve(result, path: Path) -> Path:
    """Figure 2 of the report: the loss before each update, on a log axis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    steps = range(1, len(result.losses) + 1)
    positive = [max(v, 1e-300) if v == v else float("nan") for v in result.losses]
    ax.semilogy(steps, positive, color="tab:red", lw=1.8, label="MSE before each update")
    finite = [v for v in positive if v == v and v != float("inf")]
    # the least-squares loss is often ~1e-32: draw it only where it does not squash the curve
    if finite and result.optimum.loss >= min(finite) / 100:
        ax.axhline(result.optimum.loss, color="tab:green", ls="--", lw=1, label="least-squares loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (log scale)")
    note = "" if result.config.zero_grad else ", grads not zeroed"
    ax.set_title(f"Figure 2: loss over iterations (lr={result.config.lr:g}{note})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)
