"""The report's decomposed graphs, recorded node by node.

Each function's graph is written with primitive operations and the report's
names for the intermediates (v1, v2, ...). An operation (`Op`) carries its
forward (torch ops) beside its local-derivative rule in symbols, as micrograd
keeps `_backward` beside each op: a chain-rule trace reads the rule off the
node and needs no table keyed by op name. Recording a graph keeps, for every
node, its expression, its operation, its parents and the tensor PyTorch
computed, so the same code is the autograd reference and the thing a trace walks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# rule(parents, index, size): the local gradient d(node)/d(parents[index]) in symbols of the
# parents; size is the number of elements of that parent (a mean divides by it)
Rule = Callable[[tuple[str, ...], int, int], str]


@dataclass(frozen=True)
class Op:
    """A primitive: what it computes (forward, on tensors) and its local derivative (rule)."""

    name: str
    forward: Callable = field(repr=False)
    rule: Rule = field(repr=False)


def _others(parents: tuple[str, ...], index: int) -> list[str]:
    return [q for i, q in enumerate(parents) if i != index]


def _unused(*tensors):
    raise TypeError("an input node is not computed")


INPUT = Op("input", _unused, lambda p, i, n: "")


def _torch(name: str) -> Callable:
    """torch.<name>, looked up when the op runs (this module does not import torch)."""

    def forward(*tensors):
        import torch

        return getattr(torch, name)(*tensors)

    forward.__name__ = name
    return forward


RECIPROCAL = Op("reciprocal", _torch("reciprocal"), lambda p, i, n: f"-1/{p[i]}²")
SIN = Op("sin", _torch("sin"), lambda p, i, n: f"cos({p[i]})")
COS = Op("cos", _torch("cos"), lambda p, i, n: f"-sin({p[i]})")
EXP = Op("exp", _torch("exp"), lambda p, i, n: f"exp({p[i]})")
LOG = Op("log", _torch("log"), lambda p, i, n: f"1/{p[i]}")
SQUARE = Op("square", _torch("square"), lambda p, i, n: f"2·{p[i]}")
ADD = Op("add", _torch("add"), lambda p, i, n: "1 (add distributes)")
SUB = Op("sub", _torch("sub"), lambda p, i, n: "1" if i == 0 else "-1")
MUL = Op("mul", _torch("mul"), lambda p, i, n: f"{_others(p, i)[0]} (mul swaps)")
MEAN = Op("mean", _torch("mean"), lambda p, i, n: f"1/N = 1/{n}")
NEG_SQUARE = Op("neg_square", lambda v: -(v * v), lambda p, i, n: f"-2·{p[i]}")
ADD3 = Op("add3", lambda p, q, r: p + q + r, lambda p, i, n: "1 (add distributes)")
MUL3 = Op("mul3", lambda p, q, r: p * q * r, lambda p, i, n: f"{'·'.join(_others(p, i))} (mul swaps)")
TWICE_MUL = Op("mul2", lambda p, q: 2 * p * q, lambda p, i, n: f"2·{_others(p, i)[0]}")


def add_constant(c: float) -> Op:
    """v + c: the constant shifts the value and leaves the slope 1."""
    return Op("add_const", lambda v: v + c, lambda p, i, n: "1")


@dataclass
class Node:
    name: str
    expr: str  # how the report writes it, e.g. "1/x"
    op: Op  # INPUT for leaves
    parents: tuple[str, ...]
    tensor: Any  # torch.Tensor (this module does not import torch)


class Graph:
    """An ordered record of nodes; insertion order is a topological order."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.output: str | None = None

    def input(self, name: str, tensor, expr: str | None = None) -> object:
        self.nodes[name] = Node(name, expr or name, INPUT, (), tensor)
        return tensor

    def op(self, name: str, expr: str, op: Op, *parents: str) -> object:
        tensor = op.forward(*(self.nodes[p].tensor for p in parents))
        self.nodes[name] = Node(name, expr, op, tuple(parents), tensor)
        return tensor

    def __getitem__(self, name: str):
        return self.nodes[name].tensor

    @property
    def result(self):
        assert self.output is not None, "the graph has no output yet"
        return self.nodes[self.output].tensor


GraphBuilder = Callable[[Graph], str]  # adds the ops after the inputs; returns the output node


def build(builder: GraphBuilder, inputs: dict[str, object]) -> Graph:
    """Record ``builder`` on ``inputs`` (name -> tensor) and return the graph."""
    graph = Graph()
    for name, tensor in inputs.items():
        graph.input(name, tensor)
    graph.output = builder(graph)
    return graph
