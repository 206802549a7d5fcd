"""`make bench`: how fast backprop is where users feel it, as ratios measured side by side.

Each measurement is the median of --repeats runs, and each is compared with a
baseline measured in the same run (this machine is shared and noisy: only
ratios taken together mean anything). Prints a table and writes
outputs/bench.json. Nothing here asserts a time.

    python benchmarks/run.py [--repeats 5] [--points 10000000] [--out outputs/bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PYTHON = str(BIN / "python")
BACKPROP = str(BIN / "backprop")
MINIMAL_TYPER_APP = (
    "import typer\napp = typer.Typer(rich_markup_mode='rich')\n"
    "@app.command()\ndef a(name: str = 'x'):\n    'A command.'\n"
    "@app.command()\ndef b():\n    'Another.'\napp()\n"
)


def median_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command(args: list[str]):
    env = {**os.environ, "COLUMNS": "100"}

    def run():
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)

    return run


def help_imports() -> list[str]:
    """Heavy modules that `backprop --help` imports (should be none)."""
    code = ("import sys; sys.argv = ['backprop', '--help']\nfrom backpropcli.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(','.join(m for m in ('torch', 'matplotlib', 'mpmath', 'sympy', 'pydantic') if m in sys.modules),"
            " file=sys.stderr)")
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True)
    return [m for m in done.stderr.strip().splitlines()[-1].split(",") if m] if done.stderr.strip() else []


# ---- the measurements ------------------------------------------------------------------------


def interleaved(runs: list, repeats: int) -> list[float]:
    """Medians of several commands measured in turns, so a busy spell of a shared machine
    slows each of them alike and their ratios stay honest."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def startup(repeats: int) -> list[dict]:
    # a typed expression against the built-in sinc: the cost of sympy's derivative, the 50-digit
    # truth and the digits-lost walk; then 10^4 points of it against one
    grad_one, typed_one, typed_many = interleaved([
        command([BACKPROP, "grad", "sinc", "--x", "2.0"]),
        command([BACKPROP, "grad", "x*sin(x)", "--x", "2"]),
        command([BACKPROP, "grad", "x*sin(x)", "--x=-100:100:10000"]),
    ], repeats)
    rows = [
        row("backprop --help", median_time(command([BACKPROP, "--help"]), repeats),
            "python -c 'import typer'", median_time(command([PYTHON, "-c", "import typer"]), repeats), 1.5),
        row("a minimal 2-command Typer app --help (the floor)",
            median_time(command([PYTHON, "-c", MINIMAL_TYPER_APP, "--help"]), repeats),
            "python -c 'import typer'", median_time(command([PYTHON, "-c", "import typer"]), repeats), None),
        row("backprop grad sinc --x 2.0", grad_one,
            "python -c 'import torch'", median_time(command([PYTHON, "-c", "import torch"]), repeats), 1.15),
        # gradcheck's first call imports torch.fx's symbolic shapes, which import sympy;
        # parsing options makes Typer import pydantic: no Typer tool that runs gradcheck starts faster
        row("backprop grad sinc --x 2.0", grad_one,
            "import torch + what gradcheck and Typer's parser import (the floor)",
            median_time(command([PYTHON, "-c", "import torch, torch.fx.experimental.symbolic_shapes, typer._adapters"]),
                        repeats), None),
        row("backprop grad sinc --x=-100:100:100000",
            median_time(command([BACKPROP, "grad", "sinc", "--x=-100:100:100000"]), repeats),
            "backprop grad sinc --x 2.0", grad_one, 3.0),
        row("backprop grad 'x*sin(x)' --x 2", typed_one, "backprop grad sinc --x 2.0", grad_one, 1.15),
        row("backprop grad 'x*sin(x)' --x=-100:100:10000", typed_many, "backprop grad 'x*sin(x)' --x 2",
            typed_one, 3.0),
    ]
    return rows


EXAMPLE = str(Path(__file__).parent.parent / "examples" / "my_ops.py")


def check(repeats: int) -> list[dict]:
    """`backprop check` on 101 points, every capability probed (MySincFixed passes them all, so
    every probe runs to the end), against `grad` on the same 101 points of the built-in sinc."""
    return [row("backprop check examples/my_ops.py:MySincFixed --x=-5:5:101 (every capability probed)",
                median_time(command([BACKPROP, "check", f"{EXAMPLE}:MySincFixed", "--x=-5:5:101"]), repeats),
                "backprop grad sinc --x=-5:5:101",
                median_time(command([BACKPROP, "grad", "sinc", "--x=-5:5:101"]), repeats), 2.5)]


def functions(repeats: int, n: int) -> list[dict]:
    import torch

    from backpropcli.functions.quad import quad
    from backpropcli.functions.sinc import sinc
    from backpropcli.functions.softplus import softplus

    x0 = torch.linspace(-100, 100, n, dtype=torch.float64)
    y0 = torch.linspace(-50, 70, n, dtype=torch.float64)
    cases = [
        ("sinc", sinc, lambda x: (1 / x) * torch.sin(x), 1),
        ("softplus", softplus, lambda x: torch.log(1 + torch.exp(x)), 1),
        ("quad", lambda x, y: quad(x, y, 1.0, 2.0, 3.0), lambda x, y: 1.0 * x**2 + 2.0 * x * y + 3.0 * y**2, 2),
    ]

    def first(fn, k):
        def run():
            leaves = [v.clone().requires_grad_(True) for v in (x0, y0)[:k]]
            torch.autograd.grad(fn(*leaves).sum(), leaves)
        return run

    def second(fn, k):
        def run():
            leaves = [v.clone().requires_grad_(True) for v in (x0, y0)[:k]]
            grads = torch.autograd.grad(fn(*leaves).sum(), leaves, create_graph=True)
            torch.autograd.grad(grads[0].sum(), leaves)
        return run

    rows = []
    for name, custom, native, k in cases:
        rows.append(row(f"{name}: forward + backward, custom Function", median_time(first(custom, k), repeats),
                        "the same function in native torch ops", median_time(first(native, k), repeats), 0.8))
        rows.append(row(f"{name}: second derivative (reverse over reverse), custom",
                        median_time(second(custom, k), repeats),
                        "the same in native torch ops", median_time(second(native, k), repeats), 0.8))
    return rows


def regression(repeats: int) -> list[dict]:
    """Seconds per iteration on 10^6 points, each loop in fresh processes (see loops.py)."""
    script = str(Path(__file__).with_name("loops.py"))

    def per_iteration(variant: str) -> float:
        runs = [float(subprocess.run([PYTHON, script, variant], capture_output=True, text=True, check=True).stdout)
                for _ in range(repeats)]
        return statistics.median(runs)

    tool = per_iteration("tool")
    return [
        row("regress, 10^6 points: one iteration", tool, "a hand-derived analytic-gradient loop",
            per_iteration("analytic"), 1.5),
        row("regress, 10^6 points: one iteration", tool, "the report-style script", per_iteration("report"), None),
    ]


def row(what: str, seconds: float, baseline: str, baseline_seconds: float, goal: float | None) -> dict:
    ratio = seconds / baseline_seconds
    return {"what": what, "seconds": seconds, "baseline": baseline, "baseline_seconds": baseline_seconds,
            "ratio": ratio, "goal": goal, "met": None if goal is None else ratio <= goal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (median); default 5")
    parser.add_argument("--points", type=int, default=10_000_000, help="points for the Function benchmarks")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench.json"))
    parser.add_argument("--only", choices=["start-up", "check", "functions", "regression"], help="one section only")
    args = parser.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(140, Console().width), emoji=False)
    sections = {}
    for name, measure in (("start-up", lambda: startup(args.repeats)),
                          ("check", lambda: check(args.repeats)),
                          ("functions", lambda: functions(args.repeats, args.points)),
                          ("regression", lambda: regression(args.repeats))):
        if args.only and args.only != name:
            continue
        console.print(f"measuring {name} ...", style="dim")
        sections[name] = measure()

    table = Table(title=f"backprop benchmarks: medians of {args.repeats} runs, ratios taken in this run")
    for column in ("measurement", "time", "baseline", "baseline time", "ratio", "goal"):
        table.add_column(column, justify="right" if "time" in column or column in ("ratio", "goal") else "left")
    for rows in sections.values():
        table.add_section()
        for r in rows:
            verdict = "" if r["goal"] is None else (" met" if r["met"] else " NOT met")
            style = None if r["goal"] is None else ("green" if r["met"] else "red")
            table.add_row(r["what"], fmt(r["seconds"]), r["baseline"], fmt(r["baseline_seconds"]),
                          f"{r['ratio']:.2f}×", ("" if r["goal"] is None else f"≤ {r['goal']}×") + verdict, style=style)
    console.print(table)
    heavy = help_imports()
    console.print(f"`backprop --help` imports torch/matplotlib/mpmath/sympy/pydantic: {', '.join(heavy) or 'none'}")

    machine = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
               "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
               "torch_threads": torch.get_num_threads()}
    console.print(f"machine: {machine}", style="dim")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"machine": machine, "repeats": args.repeats, "help_imports": heavy,
                               "sections": sections}, indent=2))
    os.replace(tmp, args.out)
    console.print(f"wrote {args.out}")


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
