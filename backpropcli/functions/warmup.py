"""Warm PyTorch's CPU unary kernels once, on one thread, before any real call.

PyTorch's CPU unary ops (sin, exp, log, ...) go through MKL VML, which picks
its kernel lazily on the first call. When that first call is split across
several threads, one thread can run its whole chunk with a low-accuracy kernel
(pytorch/pytorch#188792): relative errors near 1e-9 instead of 1e-16, in the
first call of a fresh process only. A checker that then compares a custom
Function with autograd reports a disagreement that is not there. One call per
op and dtype on a single thread fixes the choice for the process; it costs
about 0.1 ms in all (measured at import).
"""

from __future__ import annotations

import torch

# Every unary op the function library and the expression graphs call.
UNARY_OPS = (
    torch.sin, torch.cos, torch.tan, torch.asin, torch.acos, torch.atan,
    torch.sinh, torch.cosh, torch.tanh, torch.exp, torch.expm1, torch.log, torch.log1p,
    torch.sqrt, torch.rsqrt, torch.reciprocal, torch.sigmoid, torch.abs,
)
DTYPES = (torch.float32, torch.float64)


def warm_unary_ops() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for dtype in DTYPES:
            sample = torch.linspace(0.25, 0.75, 64, dtype=dtype)
            for op in UNARY_OPS:
                op(sample)
    finally:
        torch.set_num_threads(threads)
