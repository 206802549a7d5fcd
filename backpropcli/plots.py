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


ERROR_FLOOR = 1e-18  # exact agreement is drawn here on the log axis


def check_curves(check, path: Path) -> Path:
    """f and f' (grad) or f'' (hessian) over the points: analytic against custom,
    and each method's relative error against the analytic column on a log axis."""
    plt = _pyplot()
    axis_var = check.variables[0]
    order = sorted(range(len(check.points)), key=lambda i: check.points[i].inputs[axis_var])
    xs = [check.points[i].inputs[axis_var] for i in order]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)

    def entries(point):
        if point.gradients is not None:
            return [(f"∂f/∂{v}", c) for v, c in point.gradients.items()]
        k = len(check.variables)
        names = check.variables
        return [("f″" if k == 1 else f"∂²f/∂{names[i]}∂{names[j]}", point.hessian[i][j])
                for i in range(k) for j in range(k) if j >= i]

    if check.command == "grad":
        top.plot(xs, [check.points[i].value_analytic for i in order], color="black", lw=1.5, label="f (analytic)")
    labels = [name for name, _ in entries(check.points[0])]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, label in enumerate(labels):
        analytic = [dict(entries(check.points[i]))[label].analytic for i in order]
        custom = [dict(entries(check.points[i]))[label].custom for i in order]
        color = colors[k % len(colors)]
        top.plot(xs, analytic, color=color, lw=1.5, label=f"{label} analytic")
        step = max(1, len(xs) // 60)
        top.plot(xs[::step], custom[::step], "o", ms=3.5, mfc="none", color=color, label=f"{label} custom Function")
    top.set_ylabel("value")
    top.grid(alpha=0.3)
    top.legend(fontsize=8, loc="best")
    top.set_title(f"{check.function}: {'gradient' if check.command == 'grad' else 'second derivative'}, "
                  f"{check.dtype}")

    styles = {"custom": ("tab:blue", "-"), "autograd": ("tab:orange", "--"),
              "finite_difference": ("tab:green", ":"), "derivative_graph": ("tab:purple", "-.")}
    for method, (color, ls) in styles.items():
        errors = []
        for i in order:
            comps = [c for _, c in entries(check.points[i])]
            if method not in comps[0].rel_error:
                break
            e = max(c.rel_error[method] for c in comps)
            errors.append(max(e, ERROR_FLOOR) if e == e else float("nan"))
        else:
            label = {"derivative_graph": "autograd of the report's f′ graph"}.get(method, method.replace("_", " "))
            bottom.semilogy(xs, errors, color=color, ls=ls, lw=1.2, label=label)
    bottom.set_xlabel(axis_var)
    bottom.set_ylabel("relative error against analytic (log)")
    bottom.grid(alpha=0.3, which="both")
    bottom.legend(fontsize=8, loc="best")
    bottom.text(0.01, 0.02, f"exact agreement drawn at {ERROR_FLOOR:g}; gaps are nan/inf",
                transform=bottom.transAxes, fontsize=7, color="gray")
    fig.tight_layout()
    return save(fig, path)
