"""The benchmark helpers still run (timings themselves are never asserted)."""

import subprocess
import sys


def test_loops_script_reports_seconds_per_iteration():
    for variant in ("tool", "analytic", "report"):
        done = subprocess.run([sys.executable, "benchmarks/loops.py", variant, "2"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert float(done.stdout) > 0
