"""The report's discussion points (its section 2.3), each shown by running it, and Figure 3's rule.

(1) the graph is rebuilt on every forward pass; (3) without zero_() gradients accumulate;
(4) without torch.no_grad() the in-place update of a leaf is refused. Figure 3: at every
gate, downstream = upstream × local on each input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backpropcli.config.models import RegressConfig
    from backpropcli.core.regression import Dataset
    from backpropcli.core.trace import Trace


@dataclass(frozen=True)
class Experiments:
    """What the discussion's experiments measured on the report's own regression."""

    grad_fns: tuple[str, str]  # class names of two forward passes' loss.grad_fn (no addresses: stable)
    same_grad_fn: bool  # first.grad_fn is second.grad_fn
    grad_once: float  # dL/dW after one backward()
    grad_twice: float  # W.grad after a second backward() without zero_()
    no_grad_error: str  # PyTorch's exact message for `W -= lr * W.grad` outside no_grad

    @property
    def doubles(self) -> bool:
        """(3): the second backward() added the same gradient again."""
        return abs(self.grad_twice - 2 * self.grad_once) <= 1e-6 * abs(self.grad_twice)

    @property
    def update_refused(self) -> bool:
        """(4): PyTorch refused the in-place update of a leaf that requires grad."""
        return "leaf Variable that requires grad" in self.no_grad_error


def experiments(cfg: RegressConfig, data: Dataset) -> Experiments:
    """Run discussion points (1), (3) and (4) on the report's regression config and data."""
    import torch

    dtype = getattr(torch, cfg.dtype)
    x, y = torch.tensor(data.x, dtype=dtype), torch.tensor(data.y, dtype=dtype)
    W = torch.tensor(cfg.w0, dtype=dtype, requires_grad=True)
    b = torch.tensor(cfg.b0, dtype=dtype, requires_grad=True)

    def loss():
        return ((y - (W * x + b)) ** 2).mean()

    # (1) a dynamic graph: every forward pass records a new one
    first, second = loss(), loss()
    grad_fns = (type(first.grad_fn).__name__, type(second.grad_fn).__name__)
    same = first.grad_fn is second.grad_fn
    # (3) backward() adds into .grad: a second call without zero_() doubles it
    first.backward()
    assert W.grad is not None
    once = W.grad.item()
    second.backward()
    twice = W.grad.item()
    # (4) the update outside torch.no_grad(): an in-place op on a leaf that requires grad
    try:
        W -= cfg.lr * W.grad
        message = "(no error: PyTorch accepted the in-place update)"
    except RuntimeError as exc:
        message = str(exc)
    return Experiments(grad_fns, same, once, twice, message)


def gate_holds(trace: Trace, node: str, rel: float = 1e-12) -> bool:
    """Figure 3's rule at one node of a real run: downstream = upstream × local on each input."""
    for e in trace.edges:
        if e.target != node or e.local is None:
            continue
        for down, up, local in zip(_values(e.downstream), _values(e.upstream), _values(e.local)):
            if abs(down - up * local) > rel * max(1, abs(down)):
                return False
    return True


def _values(number: float | list[float] | None) -> list[float]:
    """A trace's number as a list: one value, or one per element."""
    if number is None:
        return []
    return number if isinstance(number, list) else [number]
