"""The benchmark harness works, proved in well under a second (timings themselves are never asserted):
the three regression loops and the function measurements run in-process on tiny inputs."""

import importlib.util
import math
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loop_variants_measure_seconds_per_iteration(monkeypatch):
    loops = load("loops")
    monkeypatch.setattr(loops, "N", 64)
    xs, ys = loops.data()
    for variant in (loops.tool, loops.analytic, loops.report):
        seconds = variant(xs, ys, 2)
        assert math.isfinite(seconds) and seconds > 0


def test_function_rows_compare_against_a_baseline():
    run = load("run")
    rows = run.functions(repeats=1, n=64)
    assert len(rows) == 6
    for row in rows:
        assert {"what", "baseline"} <= set(row) and all(math.isfinite(v) for v in row.values()
                                                      if isinstance(v, float))
