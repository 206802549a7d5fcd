"""The graph of a judged manual backward as numbers: each node's named parents, and its true
gradient beside the student's at the element where they differ most (plain floats and indices;
the presenters format them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from backpropcli.doctor.manual import ManualResult, Step

Number = float | list[float]


def flat(t: torch.Tensor | None) -> Number | None:
    """A tensor's values as a float (one element) or a flat list, in row-major order."""
    if t is None:
        return None
    values = t.detach().reshape(-1).tolist()
    return values[0] if len(values) == 1 else values


@dataclass
class Node:
    name: str
    parents: list[str]  # the named tensors forward computed it from ([] for an input)
    index: tuple[int, ...] | None  # the element shown: where the student's gradient is furthest off
    truth: float | None
    yours: float | None  # None: nothing written, or a gradient of another shape
    yours_shape: tuple[int, ...] | None
    wrong: bool


def _worst(step: Step) -> Node:
    import torch

    assert step.truth is not None
    t = step.truth
    mine = step.student if step.student is not None else step.local
    if mine is None or tuple(mine.shape) != tuple(t.shape):
        index = tuple(int(i) for i in torch.unravel_index(t.abs().reshape(-1).argmax(), t.shape)) if t.numel() else ()
        return Node(step.name, [], index, float(t[index]) if t.numel() else None, None,
                    None if mine is None else tuple(mine.shape), step.status == "wrong")
    diff = (mine.to(t.dtype) - t).abs().nan_to_num(float("inf"))
    index = tuple(int(i) for i in torch.unravel_index(diff.reshape(-1).argmax(), t.shape))
    return Node(step.name, [], index, float(t[index]), float(mine[index]), tuple(mine.shape), step.status == "wrong")


def nodes(result: ManualResult) -> list[Node]:
    """Every gradient judged or missing, the intermediates from the loss back, then the inputs."""
    out = []
    for s in sorted((s for s in result.steps if s.truth is not None), key=lambda s: s.leaf):
        node = _worst(s)
        node.parents = list(result.parents.get(s.name, []))
        out.append(node)
    return out
