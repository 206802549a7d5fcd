"""torch.autograd.gradcheck and gradgradcheck, called one way everywhere.

Their finite differences use a fixed step of 1e-6, so they carry a rounding error of
about u·|f|/1e-6 (u = 2^-53): for quad at x ~ 1e5, where f ~ 1e10, that is ~1, far above
gradcheck's default atol of 1e-5. The atol used here is that rounding error times 10
(never below 1e-5), so the verdict judges the backward, not the limits of the step.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

EPS = 1e-6  # gradcheck's step


def atol_for(size: float) -> float:
    """The absolute tolerance for a differentiated quantity of magnitude ``size``."""
    import torch

    rounding = torch.finfo(torch.float64).eps / 2 * size / EPS
    return max(1e-5, 10 * rounding)


def passes(f: Callable, inputs: Sequence, size: float, order: int = 1) -> bool:
    """Does gradcheck (order 1) or gradgradcheck (order 2) pass on f at ``inputs`` (float64)?
    ``size`` is the magnitude of what is differentiated (f, or its gradient for order 2)."""
    import torch

    check = torch.autograd.gradgradcheck if order == 2 else torch.autograd.gradcheck
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its notes on dtypes are about our probe, not the user's code
            return bool(check(f, tuple(inputs), eps=EPS, atol=atol_for(size), raise_exception=False))
    except RuntimeError:
        return False
