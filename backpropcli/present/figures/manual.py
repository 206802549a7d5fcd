"""`backprop manual --plot`: how far each step of a hand-written backward is from the truth."""

from __future__ import annotations

import math
from pathlib import Path

from backpropcli.present.figures.common import pyplot, save

FLOOR = 1e-300  # an exact 0 error drawn at the axis' floor, not left out of a log axis


def _errors(result, local: bool) -> list[float]:
    out = []
    for s in result.steps:
        value = s.local_error if local else s.max_abs_error
        out.append(math.nan if value is None else max(value, FLOOR))
    return out


def step_errors(result, path: Path) -> Path:
    """Each step's max abs error, alone (true upstream gradients) and end to end, on a log axis;
    a step whose gradient has the wrong shape (no elementwise error) is marked at the top."""
    plt = pyplot()
    names = [s.name for s in result.steps]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(names) + 2), 4.4))
    xs = list(range(len(names)))
    alone, end = _errors(result, True), _errors(result, False)
    finite = [v for v in alone + end if math.isfinite(v) and v > FLOOR]
    low = min(finite, default=1e-17) / 10
    high = max(finite, default=1.0) * 10
    ax.scatter(xs, [max(v, low) if math.isfinite(v) else math.nan for v in end], marker="o", color="tab:red",
               label="end to end (its own upstream gradients)", zorder=3)
    ax.scatter(xs, [max(v, low) if math.isfinite(v) else math.nan for v in alone], marker="x", color="black",
               label="alone (true upstream gradients)", zorder=4)
    odd = [i for i, s in enumerate(result.steps) if s.status == "wrong" and s.local_error is None]
    if odd:
        ax.scatter(odd, [high] * len(odd), marker="^", color="tab:purple", label="wrong shape (no error per element)",
                   zorder=4)
    if result.first_wrong is not None:
        ax.axvline(names.index(result.first_wrong), color="tab:red", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_ylim(low / 2, high * 2)
    ax.set_xticks(xs, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("max abs error against autograd\n(an exact 0 on the bottom edge)")
    root = f"; root cause: {result.first_wrong}" if result.first_wrong else ""
    ax.set_title(f"{Path(result.file).name}: each step of backward{root}", fontsize=10)
    ax.grid(alpha=0.3, which="both", axis="y")
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def root_cause(result, path: Path) -> Path | None:
    """The root cause's truth | yours | difference (its gradient judged alone), wrong elements
    outlined; None when its gradient has another shape than the truth (nothing to put side by side)."""
    from backpropcli.present.figures.heatmaps import heatmaps

    step = result.step(result.first_wrong)
    if step.wrong_elements is None:
        return None
    codes = ", ".join(f.code for f in step.findings)
    title = f"the root cause: ∂{result.loss}/∂{step.name} ({codes})"
    return heatmaps(step.truth, step.local, step.wrong_elements, path, title=title,
                    labels=("truth (autograd)", "yours, alone"),
                    subtitle="yours computed from the true upstream gradients; outlined: the elements out of tolerance")
