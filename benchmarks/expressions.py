"""The expression core's cost: one point against 10,000 (issue 15's "<= 3x" is for the whole
command; this measures the parts the core owns). Run: python benchmarks/expressions.py"""

import subprocess
import sys
import time

SNIPPET = """
import time
t0 = time.perf_counter()
from backpropcli.expressions import compile
spec = compile({text!r}, {{}})
n = {n}
xs = [2.0 + 1e-3 * i for i in range(n)]
refs = [spec.reference({{"x": x}}, {{}}, 1) for x in xs]
t1 = time.perf_counter()
spec.expression.precision({{"x": xs}}, {{}}, refs=refs)
t2 = time.perf_counter()
print(f"{{t1 - t0:.3f}} {{t2 - t1:.3f}}")
"""


def run(text: str, n: int) -> tuple[float, float, float]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", SNIPPET.format(text=text, n=n)], capture_output=True,
                         text=True, check=True).stdout.split()
    return time.perf_counter() - start, float(out[0]), float(out[1])


if __name__ == "__main__":
    for text in ("x*sin(x)", "(cos(x) - 1)/x**2"):
        one, ten = run(text, 1), run(text, 10_000)
        print(f"{text:20s} 1 point: {one[0]:.2f} s (import+compile+reference {one[1]:.2f} s, precision {one[2]:.3f} s)"
              f" | 10^4 points: {ten[0]:.2f} s (reference {ten[1]:.2f} s, precision {ten[2]:.2f} s)"
              f" | ratio {ten[0] / one[0]:.2f}")
