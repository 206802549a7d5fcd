"""The truth a custom gradient is judged against, as vector–Jacobian and Jacobian–vector products.

First of: the --reference (a plain-torch implementation with the same signature, through
autograd); autograd through the Function's own forward ops, trusted where it agrees with finite
differences on random directions (a forward that detaches, uses .numpy() or no_grad is caught);
central finite differences in float64 (core/finite_diff.py), Richardson-extrapolated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Truth:
    source: str  # "reference" | "autograd through forward" | "finite differences"
    # cotangents (one per output, None for a non-differentiable output) -> {input name: J^T v}
    vjp: Callable[[tuple], dict[str, Any]]
    # tangents {input name: u} -> (J u per output)
    jvp: Callable[[dict[str, Any]], tuple]
    # the outputs as plain ops with autograd (for second derivatives); None when only finite
    # differences are trusted
    differentiable_forward: Callable[[dict[str, Any]], tuple] | None = None
