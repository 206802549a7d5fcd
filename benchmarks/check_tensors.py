"""`make bench`, the tensor doctor at a real size (issue 21): `backprop check` on a linear layer
W 256×256, x 64×256, bias 256 (tests/gallery/linear.py), against torch.autograd.gradcheck.

* the whole check (every capability but compile) of the correct layer and of the one whose grad_W is
  transposed: seconds and the process's peak memory (goals: ≤ 10 s on 2 cores, ≤ 2 GB), and whether
  the transposed grad_W is found and named on `weight`;
* forward/backward call counts at d = 32, 64, 128, 256 (W d×d, x 64×d): the cost grows with the
  number of inputs and random directions, not with numel;
* gradcheck fast_mode on the transposed bug at d = 128 (x 32×128) and 256 (x 64×256) over 10 seeds:
  how often it misses the bug;
* gradcheck slow mode's two dense Jacobians at 256: their memory and an estimate of its time from one
  timed forward and backward (it is not run: hours and about 21.5 GB).

`rows(repeats)` returns the rows in benchmarks/run.py's shape (what, seconds, baseline,
baseline_seconds, ratio, goal, met) with the measurement's own fields beside them.

    python benchmarks/check_tensors.py [--repeats 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINEAR = Path(__file__).resolve().parent.parent / "tests" / "gallery" / "linear.py"
SIZES = (32, 64, 128, 256)
SECONDS_GOAL = 10.0
MEMORY_GOAL_MB = 2048.0


def batch(d: int) -> int:
    """Rows of x for a d×d layer: 64 at 256 (the issue's layer), 32 at 128 (its gradcheck timing)."""
    return 32 if d == 128 else min(d, 64)


def inputs_module(sizes=SIZES) -> str:
    """A small module with an `inputs_<d>()` per size: `--inputs` takes a function of no arguments."""
    head = ("import importlib.util\n"
            f"_spec = importlib.util.spec_from_file_location('gallery_linear_bench', {str(LINEAR)!r})\n"
            "_linear = importlib.util.module_from_spec(_spec)\n_spec.loader.exec_module(_linear)\n")
    return head + "".join(f"\n\ndef inputs_{d}():\n    return _linear.make_inputs({batch(d)}, {d}, {d})\n"
                          for d in sizes)


def run_check(target: str, inputs: str, folder: Path) -> dict:
    """`backprop check TARGET --inputs INPUTS --json` in a fresh process: its wall time, its peak
    resident memory (the child's own, from wait4) and its JSON."""
    args = [sys.executable, "-m", "backpropcli", "check", f"{LINEAR}:{target}",
            "--inputs", f"{folder / 'bench_inputs.py'}:{inputs}", "--json"]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        payload = {"error": {"message": text[-500:] or f"exit {child.returncode}, no output"}}
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "exit": child.returncode, "payload": payload}


def _named(payload: dict, code: str, input_name: str) -> bool:
    return any(f.get("code") == code and f.get("input") == input_name for f in payload.get("findings", []))


def gradcheck_fast(d: int, seeds: int = 10) -> dict:
    """gradcheck(fast_mode=True) on the transposed grad_W at d (in this process): catches and seconds."""
    import torch

    linear = _load_linear()
    x, weight, bias = linear.make_inputs(batch(d), d, d)
    leaves = tuple(t.detach().clone().requires_grad_() for t in (x, weight, bias))
    caught, times = 0, []
    for seed in range(seeds):
        torch.manual_seed(seed)  # fast mode's random u and v come from the global generator
        start = time.perf_counter()
        ok = torch.autograd.gradcheck(linear.LinearTransposedGradWeight.apply, leaves, fast_mode=True,
                                      raise_exception=False, check_batched_grad=False)
        times.append(time.perf_counter() - start)
        caught += not ok
    return {"d": d, "seeds": seeds, "caught": caught, "missed": seeds - caught, "seconds": statistics.median(times)}


def slow_mode_estimate(d: int) -> dict:
    """What gradcheck's slow mode would need at d without running it: it builds the numerical and the
    analytical Jacobian densely, each (Σ input numel) × (output numel) float64s; the numerical one
    costs two forward calls per input element (central differences), the analytical one a backward
    per output element. Times are one timed forward and backward, multiplied out."""
    import torch

    linear = _load_linear()
    x, weight, bias = (t.detach().clone().requires_grad_() for t in linear.make_inputs(batch(d), d, d))
    n_in = x.numel() + weight.numel() + bias.numel()
    out = linear.FusedLinear.apply(x, weight, bias)
    n_out = out.numel()
    forward = _median_seconds(lambda: linear.FusedLinear.apply(x, weight, bias))
    g = torch.ones_like(out)
    backward = _median_seconds(lambda: torch.autograd.grad(linear.FusedLinear.apply(x, weight, bias), (x, weight, bias),
                                                           g)) - forward
    return {"d": d, "jacobian_bytes": 2 * n_in * n_out * 8, "forward_calls": 2 * n_in, "backward_calls": n_out,
            "estimated_seconds": 2 * n_in * forward + n_out * max(backward, 0.0)}


def _median_seconds(fn, repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _load_linear():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gallery_linear_bench", LINEAR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(what: str, seconds: float, baseline: str, baseline_seconds: float, goal: float | None, **extra) -> dict:
    ratio = seconds / baseline_seconds if baseline_seconds else float("nan")
    met = extra.pop("met", None if goal is None else ratio <= goal)
    return {"what": what, "seconds": seconds, "baseline": baseline, "baseline_seconds": baseline_seconds,
            "ratio": ratio, "goal": goal, "met": met, **extra}


def rows(repeats: int = 1, sizes=SIZES, seeds: int = 10, layer: int = 256) -> list[dict]:
    """Every measurement above as rows (benchmarks/run.py's shape plus each row's own fields)."""
    out: list[dict] = []
    fast = {d: gradcheck_fast(d, seeds) for d in sorted({min(sizes[-1], 128), layer})}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bench_inputs.py").write_text(inputs_module(tuple(sorted({*sizes, layer}))))
        checks = {}
        for target, what, code in (("FusedLinear", "correct", None),
                                   ("LinearTransposedGradWeight", "grad_W transposed", "transposed")):
            runs = [run_check(target, f"inputs_{layer}", folder) for _ in range(repeats)]
            checks[target] = runs[-1]
            payload = runs[-1]["payload"]
            found = _named(payload, code, "weight") if code else payload.get("ok") is True
            seconds, peak = statistics.median(r["seconds"] for r in runs), max(r["peak_mb"] for r in runs)
            cost = payload.get("cost", {})
            out.append(row(f"check: linear W {layer}x{layer}, x {batch(layer)}x{layer}, bias {layer} ({what}; "
                           "every capability but compile)", seconds,
                           f"gradcheck fast_mode, one seed (missed it in {fast[layer]['missed']} of {seeds} seeds)",
                           fast[layer]["seconds"], None,
                           met=found and seconds <= SECONDS_GOAL and peak <= MEMORY_GOAL_MB,
                           peak_mb=peak, goal_seconds=SECONDS_GOAL, goal_mb=MEMORY_GOAL_MB, found=found,
                           exit=runs[-1]["exit"], codes=sorted({f["code"] for f in payload.get("findings", [])}),
                           forward_calls=cost.get("forward_calls"), backward_calls=cost.get("backward_calls")))
        out.extend(_calls(sizes, layer, folder, checks["FusedLinear"]))
    for d, f in fast.items():
        out.append(row(f"gradcheck fast_mode on grad_W transposed, W {d}x{d}, x {batch(d)}x{d}: caught in "
                       f"{f['caught']} of {f['seeds']} seeds", f["seconds"], "", float("nan"), None,
                       caught=f["caught"], missed=f["missed"], seeds=f["seeds"]))
    slow = slow_mode_estimate(layer)
    out.append(row(f"gradcheck slow mode, W {layer}x{layer} (not run: estimated from one forward and backward): "
                   f"{slow['jacobian_bytes'] / 2**30:.1f} GiB of Jacobians, {slow['forward_calls']} forward and "
                   f"{slow['backward_calls']} backward calls", slow["estimated_seconds"], "", float("nan"), None,
                   **{k: v for k, v in slow.items() if k != "estimated_seconds"}))
    return out


def _calls(sizes, layer: int, folder: Path, at_layer: dict) -> list[dict]:
    """Forward/backward calls of the whole check of the correct layer at each d (W d×d, x batch×d)."""
    found = []
    for d in sizes:
        result = at_layer if d == layer else run_check("FusedLinear", f"inputs_{d}", folder)
        cost = result["payload"].get("cost", {})
        numel = batch(d) * d + d * d + d
        found.append((d, numel, cost.get("forward_calls"), cost.get("backward_calls"), result["seconds"]))
    first = found[0]
    out = []
    for d, numel, forward, backward, seconds in found:
        grows = None if None in (forward, backward, first[2], first[3]) else \
            (forward + backward) / (first[2] + first[3])
        out.append(row(f"check calls at d = {d} (inputs' numel {numel}): {forward} forward, {backward} backward",
                       seconds, f"check at d = {first[0]}", first[4], None, d=d, numel=numel,
                       forward_calls=forward, backward_calls=backward, calls_vs_smallest=grows,
                       numel_vs_smallest=numel / first[1],
                       met=None if grows is None else grows <= 1.5))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1, help="whole checks per measurement (median)")
    parser.add_argument("--quick", action="store_true", help="d = 32 and 64 only, 3 seeds (a smoke test)")
    args = parser.parse_args()
    table = rows(args.repeats, sizes=(32, 64), seeds=3, layer=64) if args.quick else rows(args.repeats)
    for r in table:
        verdict = "" if r["met"] is None else (" met" if r["met"] else " NOT met")
        extra = f", peak {r['peak_mb']:.0f} MB" if "peak_mb" in r else ""
        print(f"{r['what']}: {r['seconds']:.2f} s{extra}{verdict}")
    print(json.dumps(table, indent=1, default=str))


if __name__ == "__main__":
    main()
