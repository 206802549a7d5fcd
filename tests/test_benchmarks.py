"""The benchmark harness works, proved in well under a second (timings themselves are never asserted):
the three regression loops and the function measurements run in-process on tiny inputs; the goals,
the last line, the load and the extra rows module are checked with made-up timings."""

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


def test_function_rows_compare_against_a_baseline_under_each_condition():
    run = load("run")
    for condition, goal in (("idle", 0.8), ("under load", 1.0)):
        rows = run.functions(repeats=1, n=64, condition=condition)
        assert len(rows) == 6
        for row in rows:
            assert {"what", "baseline"} <= set(row) and all(math.isfinite(v) for v in row.values()
                                                          if isinstance(v, float))
            assert row["condition"] == condition and row["goal"] == goal


def test_a_goal_is_met_at_its_ratio_and_missed_just_above():
    run = load("run")
    assert run.row("a", 2.0, "floor", 1.0, 2.0)["met"] is True
    assert run.row("a", 2.001, "floor", 1.0, 2.0)["met"] is False
    assert run.row("a", 9.0, "floor", 1.0, None)["met"] is None


def test_the_last_line_counts_goals_and_names_those_missed():
    run = load("run")
    rows = [run.row("quick", 1.0, "floor", 1.0, 1.5), run.row("info", 5.0, "floor", 1.0, None),
            run.row("quad: second derivative", 1.25, "native", 1.0, 1.0, "under load"),
            run.row("many points", 3.5, "one point", 1.0, 3.0)]
    assert run.goals_line(rows) == ("goals: 1 met, 2 not met: quad: second derivative (under load) 1.25× > 1.0×; "
                                    "many points (idle) 3.50× > 3.0×")
    assert run.goals_line(rows[:2]) == "goals: 1 met, 0 not met"


def test_the_load_is_stopped_however_the_block_ends():
    run = load("run")
    try:
        with run.busy_cores(1) as procs:
            assert all(p.poll() is None for p in procs)
            raise KeyError("stop")
    except KeyError:
        pass
    assert all(p.poll() is not None for p in procs)


def test_an_extra_rows_module_is_optional_and_its_rows_join_the_table(tmp_path):
    run = load("run")
    assert run.extra_rows(1, tmp_path / "absent.py") == []
    module = tmp_path / "extra.py"
    module.write_text("def rows(repeats):\n    return [{'what': 'check a 256x256 linear', 'seconds': 2.0,\n"
                      "             'baseline': 'grad', 'baseline_seconds': 1.0, 'goal': 2.5}]\n")
    (extra,) = run.extra_rows(3, module)
    assert extra["ratio"] == 2.0 and extra["met"] is True and extra["condition"] == "idle"


def test_the_markdown_table_has_a_row_per_measurement_and_the_last_line():
    run = load("run")
    rows = [run.row("backprop --help", 0.12, "a minimal Typer app", 0.1, 1.2),
            run.row("quad", 0.5, "native", 0.4, 1.0, "under load")]
    text = run.markdown({"sections": {"a": rows}, "goals": run.goals_line(rows)})
    lines = text.splitlines()
    assert lines[2] == "| backprop --help | idle | 120.0 ms | a minimal Typer app | 100.0 ms | 1.20× | ≤ 1.2× met |"
    assert lines[3].endswith("| 1.25× | ≤ 1.0× **not met** |")
    assert lines[-1] == "goals: 1 met, 1 not met: quad (under load) 1.25× > 1.0×"
