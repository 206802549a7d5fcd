"""One gradient-descent loop on 10^6 synthetic points, timed in a process of its own.

    python benchmarks/loops.py tool|analytic|report [iterations]

Prints the seconds per iteration. Each variant runs in a fresh process so that all
three meet the same memory allocator: glibc serves an 8 MB temporary with fresh,
page-faulting pages until a free raises its mmap threshold, and that history, not
the arithmetic, would otherwise decide the comparison.
"""

import sys
import time

import torch

N = 1_000_000


def data():
    gen = torch.Generator().manual_seed(0)
    xs = torch.rand(N, generator=gen, dtype=torch.float64) * 4
    return xs, -xs + 1 + 0.1 * torch.randn(N, generator=gen, dtype=torch.float64)


def tool(xs, ys, iters: int) -> float:
    """backprop's own loop (regression.train), timed from its per-step callback."""
    from backpropcli.config.models import RegressConfig
    from backpropcli.core.regression import Dataset, train

    stamps = []
    train(RegressConfig(lr=0.1, iters=iters + 1, dtype="float64"), data=Dataset(xs.tolist(), ys.tolist(), "bench"),
          on_step=lambda step, loss: stamps.append(time.perf_counter()))
    return (stamps[-1] - stamps[0]) / iters


def analytic(xs, ys, iters: int) -> float:
    """The floor for this algorithm: the MSE gradient derived by hand, no autograd."""
    W, b = torch.tensor(0.3, dtype=torch.float64), torch.tensor(-0.3, dtype=torch.float64)
    start = time.perf_counter()
    for _ in range(iters):
        r = ys - (W * xs + b)
        W, b = W + 0.1 * 2 * torch.mean(r * xs), b + 0.1 * 2 * torch.mean(r)
    return (time.perf_counter() - start) / iters


def report(xs, ys, iters: int) -> float:
    """The report's script, line for line."""
    W = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-0.3, dtype=torch.float64, requires_grad=True)
    start = time.perf_counter()
    for _ in range(iters):
        y_hat = W * xs + b
        loss = ((ys - y_hat) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            W -= 0.1 * W.grad
            b -= 0.1 * b.grad
        W.grad.zero_()
        b.grad.zero_()
    return (time.perf_counter() - start) / iters


if __name__ == "__main__":
    variant = {"tool": tool, "analytic": analytic, "report": report}[sys.argv[1]]
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    print(variant(*data(), iterations))
