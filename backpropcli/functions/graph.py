"""The report's decomposed graphs, recorded node by node.

Each function's graph is written with primitive torch ops and the report's
names for the intermediates (v1, v2, ...). Recording them in a `Graph` keeps,
for every node, its expression, its operation, its parents and the tensor
PyTorch computed, so the same code is the autograd reference and the thing a
chain-rule trace walks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Node:
    name: str
    expr: str  # how the report writes it, e.g. "1/x"
    op: str  # the primitive, e.g. "reciprocal"; "input" for leaves
    parents: tuple[str, ...]
    tensor: object  # torch.Tensor
    fn: Callable | None = field(default=None, repr=False)  # recomputes the node from its parents


class Graph:
    """An ordered record of nodes; insertion order is a topological order."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.output: str | None = None

    def input(self, name: str, tensor, expr: str | None = None) -> object:
        self.nodes[name] = Node(name, expr or name, "input", (), tensor)
        return tensor

    def op(self, name: str, expr: str, op: str, fn: Callable, *parents: str) -> object:
        tensor = fn(*(self.nodes[p].tensor for p in parents))
        self.nodes[name] = Node(name, expr, op, tuple(parents), tensor, fn)
        return tensor

    def __getitem__(self, name: str):
        return self.nodes[name].tensor

    @property
    def result(self):
        return self.nodes[self.output].tensor

    def edges(self) -> list[tuple[str, str]]:
        """(parent, child) pairs in the direction of the forward pass."""
        return [(p, node.name) for node in self.nodes.values() for p in node.parents]


GraphBuilder = Callable[[Graph], str]  # adds the ops after the inputs; returns the output node


def build(builder: GraphBuilder, inputs: dict[str, object]) -> Graph:
    """Record ``builder`` on ``inputs`` (name -> tensor) and return the graph."""
    graph = Graph()
    for name, tensor in inputs.items():
        graph.input(name, tensor)
    graph.output = builder(graph)
    return graph
