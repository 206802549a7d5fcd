"""The graph of a judged manual backward as numbers: each node's named parents, and its true
gradient beside the student's at the element where they differ most, or, for a right gradient,
at its largest element (plain floats and indices; the presenters format them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from backpropcli.doctor.classify import unravel

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
    index: tuple[int, ...] | None  # the element shown: where a wrong gradient is furthest off, else the largest
    truth: float | None
    yours: float | None  # None: nothing written, or a gradient of another shape
    yours_shape: tuple[int, ...] | None
    wrong: bool


ROUNDING = 1e-12  # a true gradient this small is zero computed in float64


def _worst(step: Step) -> Node:
    import torch

    assert step.truth is not None
    t = step.truth
    mine = step.student if step.student is not None else step.local
    if mine is None or tuple(mine.shape) != tuple(t.shape):
        index = unravel(int(t.abs().reshape(-1).argmax()), tuple(t.shape)) if t.numel() else ()
        return Node(step.name, [], index, float(t[index]) if t.numel() else None, None,
                    None if mine is None else tuple(mine.shape), step.status == "wrong")
    # a right gradient's largest difference is rounding, and where it falls depends on the threads
    # that summed it: show its largest element instead, the same on every run (the first, for a
    # gradient that is zero up to rounding: a bias before a batch norm)
    diff = (mine.to(t.dtype) - t).abs().nan_to_num(float("inf")) if step.status == "wrong" else \
        torch.where(t.abs() > ROUNDING, t.abs(), 0.0)
    index = unravel(int(diff.reshape(-1).argmax()), tuple(t.shape)) if t.numel() else ()
    return Node(step.name, [], index, float(t[index]), float(mine[index]), tuple(mine.shape), step.status == "wrong")


def nodes(result: ManualResult) -> list[Node]:
    """Every gradient judged or missing, the intermediates from the loss back, then the inputs."""
    out = []
    for s in sorted((s for s in result.steps if s.truth is not None), key=lambda s: s.leaf):
        node = _worst(s)
        node.parents = list(result.parents.get(s.name, []))
        out.append(node)
    return out


# ---- the true graph as a core.trace.Trace, for the explorer page (--html) ------------------------


@dataclass
class Edge:
    """parent -> child in forward, as core.trace records an edge: the local gradient by a VJP with
    ones (elementwise: ∂child/∂parent itself; otherwise each parent element's summed effect), the
    child's true gradient (upstream) and the share of it sent to the parent (downstream, a VJP)."""

    source: str
    target: str
    local: Number
    upstream: Number
    downstream: Number


def op_of(t: torch.Tensor) -> str:
    """The autograd node that made t, as a short lowercase name ("mm", "tanh", "add")."""
    return "input" if t.grad_fn is None else _op_name(t.grad_fn)


def expression_of(t: torch.Tensor, named: dict[str, torch.Tensor], depth: int = 4) -> str:
    """What t is computed from, as autograd recorded it, down to the named tensors: "add(mm(·, W1),
    b1)" for x @ W1 + b1 (· a tensor with no gradient, the data; … deeper than ``depth``), in the
    ops' own argument order. Only the last op and the named parents would hide the matmul."""
    if t.grad_fn is None:
        return "input"
    owner = {id(v.grad_fn) if v.grad_fn is not None else id(v): k for k, v in reversed(list(named.items()))}

    def walk(fn, left: int) -> str:
        if fn is None:
            return "·"
        variable = getattr(fn, "variable", None)
        hit = owner.get(id(variable)) if variable is not None else owner.get(id(fn))
        if hit is not None:
            return hit
        if variable is not None or left == 0:
            return "·" if variable is not None else "…"
        return f"{_op_name(fn)}({', '.join(walk(f, left - 1) for f, _ in fn.next_functions)})"

    return f"{_op_name(t.grad_fn)}({', '.join(walk(f, depth) for f, _ in t.grad_fn.next_functions)})"


def _op_name(fn) -> str:
    name = type(fn).__name__
    for suffix in ("Backward0", "Backward1", "Backward"):
        name = name.removesuffix(suffix)
    return name.lower()


def edges_of(tensors: dict[str, torch.Tensor], parents: dict[str, list[str]], truth: dict[str, torch.Tensor],
             loss: str) -> list[Edge]:
    """Every parent -> child edge's numbers; the graph must still be there (retain_graph)."""
    import torch

    out = []
    for child, sources in parents.items():
        c = tensors[child]
        up = truth[child] if child in truth else torch.ones_like(c)
        for source in sources:
            p = tensors[source]
            local, = torch.autograd.grad(c, p, torch.ones_like(c), retain_graph=True, allow_unused=True)
            down, = torch.autograd.grad(c, p, up, retain_graph=True, allow_unused=True)
            zero = torch.zeros_like(p)
            out.append(Edge(source, child, flat(local if local is not None else zero) or 0.0, flat(up) or 0.0,
                            flat(down if down is not None else zero) or 0.0))
    return out


def trace_of(result: ManualResult):
    """The true graph (inputs with a gradient, then the intermediates in forward's order) as a
    core.trace.Trace: each node's value and true gradient, each edge's numbers."""
    from backpropcli.core.trace import Trace, TraceEdge, TraceNode

    names = [n for n in result.values if n in result.ops]
    nodes = []
    for name in names:
        step = next((s for s in result.steps if s.name == name), None)
        grad = 1.0 if name == result.loss else flat(step.truth) if step is not None else None
        op = result.ops[name]
        expr = "input" if op == "input" else result.expressions.get(name) or \
            f"{op}({', '.join(result.parents.get(name, []))})"
        nodes.append(TraceNode(name, expr, op, flat(result.values[name]) or 0.0, grad))
    edges = [TraceEdge(e.source, e.target, e.local, e.upstream, e.downstream,
                       f"Σ ∂{e.target}/∂{e.source} (a VJP with ones)", vjp=True) for e in result.edges]
    return Trace(f"{result.file}: forward and the true backward", result.loss, nodes, edges, dtype=result.dtype)
