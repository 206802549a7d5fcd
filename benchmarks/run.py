"""`make bench`: how fast backprop is where users feel it, as ratios measured side by side.

Each measurement is the median of --repeats runs, taken in turns with a
baseline measured in the same run (this machine is shared and noisy: only
ratios taken together mean anything). The compute rows are measured twice:
idle, and under load, with a busy-loop process per core that the bench starts
and stops itself; each condition's ratio is against native torch measured
under the same condition. Every goal is a ratio to a floor the bench measures
(a minimal Typer app, torch's own import, native torch), never to something no
tool could reach. Prints a table, then as its last line
`goals: N met, M not met` naming the ones not met, and writes
outputs/bench.json. Nothing here asserts a time.

    python benchmarks/run.py [--repeats 5] [--points 10000000] [--out outputs/bench.json]

A module benchmarks/check_tensors.py, when present, adds its rows: it defines
rows(repeats) returning dicts as row() makes them (see extra_rows).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent
PYTHON = str(BIN / "python")
BACKPROP = str(BIN / "backprop")
HERE = Path(__file__).resolve().parent
MINIMAL_TYPER_APP = (
    "import typer\napp = typer.Typer(rich_markup_mode='rich')\n"
    "@app.command()\ndef a(name: str = 'x'):\n    'A command.'\n"
    "@app.command()\ndef b():\n    'Another.'\napp()\n"
)
# the floor of a usage error: the least a Typer tool whose options are typed by pydantic models
# (as backprop's config is) does before it can refuse one: Typer, its parser, a pydantic model
MINIMAL_VALIDATING_APP = (
    "import sys, typer, pydantic\napp = typer.Typer(rich_markup_mode='rich')\n"
    "class M(pydantic.BaseModel):\n    x: float\n"
    "@app.command()\ndef a(x: str = '1'):\n    'A command.'\n"
    "    try:\n        M(x=x)\n    except pydantic.ValidationError:\n"
    "        print('error: --x is not a number', file=sys.stderr); raise typer.Exit(2)\n"
    "@app.command()\ndef b():\n    'Another.'\napp()\n"
)
IDLE, LOADED = "idle", "under load"


def median_time(run, repeats: int) -> float:
    return interleaved([run], repeats)[0]


def interleaved(runs: list, repeats: int) -> list[float]:
    """Medians of several measurements taken in turns, so a busy spell of a shared machine
    slows each of them alike and their ratios stay honest."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def command(args: list[str]):
    env = {**os.environ, "COLUMNS": "100"}

    def run():
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)

    return run


@contextmanager
def busy_cores(count: int | None = None):
    """A busy-loop process per core (or ``count``) for the duration of the block: the load a
    laptop's browser or a parallel test run puts on the CPU. Stopped however the block ends."""
    procs = [subprocess.Popen([PYTHON, "-c", "while True: pass"]) for _ in range(count or os.cpu_count() or 1)]
    try:
        time.sleep(0.3)  # let them start spinning
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def help_imports() -> list[str]:
    """Heavy modules that `backprop --help` imports (should be none)."""
    code = ("import sys; sys.argv = ['backprop', '--help']\nfrom backpropcli.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(','.join(m for m in ('torch', 'matplotlib', 'mpmath', 'sympy', 'pydantic') if m in sys.modules),"
            " file=sys.stderr)")
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True)
    return [m for m in done.stderr.strip().splitlines()[-1].split(",") if m] if done.stderr.strip() else []


# ---- the measurements ------------------------------------------------------------------------


def startup(repeats: int) -> list[dict]:
    # the floors first: a minimal Typer app, and torch with what gradcheck and Typer's parser import
    # (gradcheck's first call imports torch.fx's symbolic shapes, which import sympy; parsing
    # options makes Typer import pydantic: no Typer tool that runs gradcheck starts faster)
    typer_import, minimal, help_, torch_import, torch_floor, grad_one = interleaved([
        command([PYTHON, "-c", "import typer"]),
        command([PYTHON, "-c", MINIMAL_TYPER_APP, "--help"]),
        command([BACKPROP, "--help"]),
        command([PYTHON, "-c", "import torch"]),
        command([PYTHON, "-c", "import torch, torch.fx.experimental.symbolic_shapes, typer._adapters"]),
        command([BACKPROP, "grad", "sinc", "--x", "2.0"]),
    ], repeats)
    many, typed_one, typed_many = interleaved([
        command([BACKPROP, "grad", "sinc", "--x=-100:100:100000"]),
        command([BACKPROP, "grad", "x*sin(x)", "--x", "2"]),
        command([BACKPROP, "grad", "x*sin(x)", "--x=-100:100:10000"]),
    ], repeats)
    return [
        row("a minimal 2-command Typer app --help (the floor)", minimal, "python -c 'import typer'",
            typer_import, None),
        row("backprop --help", help_, "a minimal 2-command Typer app --help", minimal, 1.2),
        row("backprop grad sinc --x 2.0", grad_one, "python -c 'import torch'", torch_import, None),
        row("backprop grad sinc --x 2.0", grad_one,
            "import torch + what gradcheck and Typer's parser import (the floor)", torch_floor, 1.15),
        row("backprop grad sinc --x=-100:100:100000", many, "backprop grad sinc --x 2.0", grad_one, 3.0),
        row("backprop grad 'x*sin(x)' --x 2", typed_one, "backprop grad sinc --x 2.0", grad_one, 1.15),
        row("backprop grad 'x*sin(x)' --x=-100:100:10000", typed_many, "backprop grad 'x*sin(x)' --x 2",
            typed_one, 3.0),
    ]


# usage errors that the parser, the points syntax, the function signatures (read without torch:
# config/signatures.py) and the YAML loader decide before torch loads
USAGE_ERRORS = (
    ("a bad point", ["grad", "sinc", "--x", "abc"]),
    ("an unknown function", ["grad", "nosuch", "--x", "1"]),
    ("an unknown option", ["grad", "sinc", "--bogus", "1"]),
    ("an option the function does not take", ["grad", "sinc", "--y", "1"]),
    ("a bad expression", ["grad", "x*", "--x", "1"]),
    ("a wrong type in YAML", ["regress", "--config", "{config}"]),
)


def usage(repeats: int, workdir: Path) -> list[dict]:
    """Each usage error against the floor: a minimal Typer app refusing an option by a pydantic model."""
    config = workdir / "bench-bad-type.yaml"
    config.write_text("lr: fast\n")
    runs = [command([BACKPROP, *(a.replace("{config}", str(config)) for a in args)]) for _, args in USAGE_ERRORS]
    floor, *times = interleaved([command([PYTHON, "-c", MINIMAL_VALIDATING_APP, "a", "--x", "abc"]), *runs],
                                repeats)
    config.unlink()
    return [row(f"usage error, {what}: backprop {' '.join(args).replace('{config}', 'bad.yaml')}", t,
                "a minimal Typer app refusing an option by a pydantic model (the floor)", floor, 1.5)
            for (what, args), t in zip(USAGE_ERRORS, times)]


def check(repeats: int) -> list[dict]:
    """`backprop check` on 101 points, every capability probed (MySincFixed passes them all, so
    every probe runs to the end), against `grad` on the same 101 points of the built-in sinc."""
    example = str(HERE.parent / "examples" / "my_ops.py")
    checked, graded = interleaved([command([BACKPROP, "check", f"{example}:MySincFixed", "--x=-5:5:101"]),
                                   command([BACKPROP, "grad", "sinc", "--x=-5:5:101"])], repeats)
    return [row("backprop check examples/my_ops.py:MySincFixed --x=-5:5:101 (every capability probed)",
                checked, "backprop grad sinc --x=-5:5:101", graded, 2.5)]


# a custom Function's goal against native torch in each condition (issue 26)
FUNCTION_GOALS = {IDLE: 0.8, LOADED: 1.0}


def functions(repeats: int, n: int, condition: str = IDLE) -> list[dict]:
    """The custom Functions against the same maths in native torch ops, in turns, on n points."""
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

    goal = FUNCTION_GOALS[condition]
    rows = []
    for name, custom, native, k in cases:
        custom_time, native_time = interleaved([first(custom, k), first(native, k)], repeats)
        rows.append(row(f"{name}: forward + backward, custom Function", custom_time,
                        "the same function in native torch ops", native_time, goal, condition))
        custom_time, native_time = interleaved([second(custom, k), second(native, k)], repeats)
        rows.append(row(f"{name}: second derivative (reverse over reverse), custom", custom_time,
                        "the same in native torch ops", native_time, goal, condition))
    return rows


def functions_both(repeats: int, n: int) -> list[dict]:
    """functions() idle, then again with a busy-loop process on every core."""
    rows = functions(repeats, n, IDLE)
    with busy_cores():
        rows += functions(repeats, n, LOADED)
    return rows


def regression(repeats: int) -> list[dict]:
    """Seconds per iteration on 10^6 points, each loop in fresh processes (see loops.py)."""
    script = str(HERE / "loops.py")

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


def extra_rows(repeats: int, path: Path = HERE / "check_tensors.py") -> list[dict]:
    """Rows from an extra module beside this one (benchmarks/check_tensors.py: the tensor check),
    when it exists: its rows(repeats) returns dicts with at least what, seconds, baseline,
    baseline_seconds and goal (None for a row without one), normalised here by row()."""
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [row(r["what"], r["seconds"], r["baseline"], r["baseline_seconds"], r.get("goal"),
                r.get("condition", IDLE)) for r in module.rows(repeats)]


def row(what: str, seconds: float, baseline: str, baseline_seconds: float, goal: float | None,
        condition: str = IDLE) -> dict:
    ratio = seconds / baseline_seconds
    return {"what": what, "condition": condition, "seconds": seconds, "baseline": baseline,
            "baseline_seconds": baseline_seconds, "ratio": ratio, "goal": goal,
            "met": None if goal is None else ratio <= goal}


def goals_line(rows: list[dict]) -> str:
    """The last line: how many goals were met, and each one not met with its ratio and goal."""
    judged = [r for r in rows if r["goal"] is not None]
    missed = [r for r in judged if not r["met"]]
    line = f"goals: {len(judged) - len(missed)} met, {len(missed)} not met"
    if missed:
        line += ": " + "; ".join(f"{r['what']} ({r['condition']}) {r['ratio']:.2f}× > {r['goal']}×" for r in missed)
    return line


SECTIONS = ("start-up", "usage", "check", "functions", "regression", "extra")


def measure(name: str, args) -> list[dict]:
    if name == "start-up":
        return startup(args.repeats)
    if name == "usage":
        return usage(args.repeats, args.out.parent)
    if name == "check":
        return check(args.repeats)
    if name == "functions":
        return functions_both(args.repeats, args.points)
    if name == "regression":
        return regression(args.repeats)
    return extra_rows(args.repeats)


def table(sections: dict, repeats: int):
    from rich.table import Table

    out = Table(title=f"backprop benchmarks: medians of {repeats} runs, ratios taken in this run")
    for column in ("measurement", "condition", "time", "baseline", "baseline time", "ratio", "goal"):
        out.add_column(column, justify="right" if "time" in column or column in ("ratio", "goal") else "left")
    for rows in sections.values():
        out.add_section()
        for r in rows:
            verdict = "" if r["goal"] is None else (" met" if r["met"] else " NOT met")
            style = None if r["goal"] is None else ("green" if r["met"] else "red")
            out.add_row(r["what"], r["condition"], fmt(r["seconds"]), r["baseline"], fmt(r["baseline_seconds"]),
                        f"{r['ratio']:.2f}×", ("" if r["goal"] is None else f"≤ {r['goal']}×") + verdict,
                        style=style)
    return out


def markdown(data: dict) -> str:
    """The table as Markdown (docs/performance.md pastes a run's), from what bench.json holds."""
    lines = ["| measurement | condition | time | baseline | baseline time | ratio | goal |",
             "|---|---|---|---|---|---|---|"]
    for rows in data["sections"].values():
        for r in rows:
            goal = "" if r["goal"] is None else f"≤ {r['goal']}× " + ("met" if r["met"] else "**not met**")
            lines.append(f"| {r['what']} | {r['condition']} | {fmt(r['seconds'])} | {r['baseline']} | "
                         f"{fmt(r['baseline_seconds'])} | {r['ratio']:.2f}× | {goal} |")
    return "\n".join(lines + ["", data["goals"]]) + "\n"


def compiled_as_installed() -> None:
    """The package's bytecode in __pycache__, as `pip install` of the wheel leaves it: with
    PYTHONDONTWRITEBYTECODE set (as on this machine) an editable checkout would otherwise compile
    every module from source at each start, ~40 ms that no installed copy pays and the floors
    (typer, torch, installed with bytecode) never pay either."""
    import compileall

    compileall.compile_dir(str(HERE.parent / "backpropcli"), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (median); default 5")
    parser.add_argument("--points", type=int, default=10_000_000, help="points for the Function benchmarks")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench.json"))
    parser.add_argument("--only", choices=SECTIONS, action="append", help="these sections only (repeatable)")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    compiled_as_installed()

    import torch
    from rich.console import Console

    console = Console(width=max(140, Console().width), emoji=False)
    sections = {}
    for name in SECTIONS:
        if args.only and name not in args.only:
            continue
        console.print(f"measuring {name} ...", style="dim")
        sections[name] = measure(name, args)

    console.print(table(sections, args.repeats))
    heavy = help_imports()
    console.print(f"`backprop --help` imports torch/matplotlib/mpmath/sympy/pydantic: {', '.join(heavy) or 'none'}")
    machine = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
               "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
               "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()}
    console.print(f"machine: {machine}", style="dim")
    rows = [r for section in sections.values() for r in section]
    last = goals_line(rows)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"machine": machine, "repeats": args.repeats, "help_imports": heavy,
                               "sections": sections, "goals": last}, indent=2))
    os.replace(tmp, args.out)
    table_md = args.out.with_suffix(".md")
    table_md.write_text(markdown(json.loads(args.out.read_text())))
    console.print(f"wrote {args.out} and {table_md}")
    print(last)


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
