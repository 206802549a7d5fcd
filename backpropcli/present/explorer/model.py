"""The explorer's data model: a traced graph as a sequence of steps, every number already text.

Step 0 shows the graph with no numbers. Then the forward pass, one step per node in
topological order: the node's value appears, computed from its parents'. Then the
backward pass, one step per node that carries a gradient, from the output back
(reverse topological order, so every consumer of a node is done before the node):
the node's gradient ∂f/∂node is complete (the sum of what its outgoing edges sent
back), and the node sends upstream × local = downstream along each of its input edges.

Numbers are formatted here, once, with present/fmt.py: the terminal's shortest digits
(`full`, a vector shortened by `short`) for the text, the picture's six digits
(`compact`) inside the boxes; the page never formats a number itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backpropcli.present.fmt import compact, full, partial, short
from backpropcli.present.tables import trace_title

if TYPE_CHECKING:
    from backpropcli.core.layout import Layout
    from backpropcli.core.trace import Number, Trace, TraceEdge, TraceNode


@dataclass(frozen=True)
class Student:
    """A student's own gradient at one node (`backprop manual`), shown beside the true one."""

    grad: Number | None
    wrong: bool
    note: str = ""  # why it is wrong, in words (e.g. "sign flipped"); "" when there is nothing to say


@dataclass(frozen=True)
class Term:
    """One outgoing edge node -> via's share of ∂f/∂node: upstream ∂f/∂via × local ∂via/∂node."""

    via: str
    upstream: str
    local: str
    rule: str
    downstream: str
    summed: bool = False  # a scalar node feeding a vector (W in W·x): the products are summed over the elements


@dataclass
class NodeView:
    name: str
    title: str  # "v3 = v1·v2", or the input's name
    op: str
    value: str  # the terminal's digits
    value_box: str  # the picture's
    grad: str | None  # None: data, no gradient
    grad_box: str | None
    forward: int  # the step at which its value appears
    backward: int | None  # the step at which its gradient is complete; None: it never gets one
    output: bool
    terms: list[Term] = field(default_factory=list)
    student: Student | None = None
    student_grad: str | None = None  # the student's gradient as text


@dataclass
class EdgeView:
    source: str
    target: str
    label: str  # the picture's text on the arrow
    local: str | None  # None: data, no gradient flows
    rule: str
    upstream: str
    downstream: str | None
    step: int  # the step at which the gradient flows along it (data: the step its child says none does)
    downstream_box: str | None = None  # the picture's digits, for the graph
    vjp: bool = False  # a tensor op: downstream = Jᵀ·upstream (core/trace.TraceEdge)


@dataclass(frozen=True)
class Mark:
    """Why a step stands out: "nan" or "inf" is born there, or a student's gradient is "wrong";
    on which node, or on which edge (its index in the edges)."""

    kind: str
    text: str
    node: str | None = None
    edge: int | None = None


@dataclass
class Step:
    index: int
    phase: str  # "start", "forward" or "backward"
    node: str | None
    heading: str
    lines: list[str]
    marks: list[Mark] = field(default_factory=list)


@dataclass
class Explorer:
    title: str
    symbol: str  # what the graph computes: "f", "f′", "∂f/∂x", "L"
    dtype: str
    nodes: list[NodeView]
    edges: list[EdgeView]
    steps: list[Step]
    layout: Layout
    unused: list[str]  # nodes no edge touches, not drawn (as in the picture)

    def node(self, name: str) -> NodeView:
        return next(n for n in self.nodes if n.name == name)

    def marked(self, kind: str) -> list[int]:
        """The steps with a mark of this kind."""
        return [s.index for s in self.steps if any(m.kind == kind for m in s.marks)]

    def marks(self) -> list[tuple[int, Mark]]:
        """Every mark, in step order (nan before inf within a step: the nan is the news)."""
        rank = {"nan": 0, "wrong": 1, "inf": 2}
        return [(s.index, m) for s in self.steps for m in sorted(s.marks, key=lambda m: rank[m.kind])]


def text(value: Number | None, dtype: str = "float64") -> str:
    """A number as the terminal writes it: the shortest digits that read back as the same float
    in the run's dtype; a vector as its first entries and its length."""
    if value is None:
        return "-"
    return short(value, dtype=dtype) if isinstance(value, list) else full(value, dtype)


def _has(value: Number | None, kind: str) -> bool:
    """Is any entry nan (kind "nan") or infinite ("inf")?"""
    if value is None:
        return False
    test = math.isnan if kind == "nan" else math.isinf
    return any(test(v) for v in (value if isinstance(value, list) else [value]))


def topological(trace: Trace) -> list[str]:
    """The nodes in an order where every parent comes before its children: the trace's own
    order where it already is one (the order the graph was recorded in), else Kahn's, stable."""
    parents: dict[str, set[str]] = {n.name: set() for n in trace.nodes}
    for e in trace.edges:
        parents[e.target].add(e.source)
    done: list[str] = []
    left = [n.name for n in trace.nodes]
    while left:
        ready = next((name for name in left if parents[name] <= set(done)), None)
        if ready is None:
            raise ValueError("the traced graph has a cycle")
        done.append(ready)
        left.remove(ready)
    return done


def explore(trace: Trace, symbol: str = "f", students: dict[str, Student] | None = None) -> Explorer:
    """The steps through one traced graph, drawn with the picture's layout (figures.graph.drawn).
    ``students``: a student's gradient at some nodes (by name), for `backprop manual`."""
    from backpropcli.present.figures.graph import drawn, edge_label

    trace, unused, placed = drawn(trace, symbol)
    students = students or {}
    order = topological(trace)
    by_name = {n.name: n for n in trace.nodes}
    forward = {name: i + 1 for i, name in enumerate(order)}
    backward_order = [name for name in reversed(order) if by_name[name].grad is not None]
    backward = {name: len(order) + 1 + i for i, name in enumerate(backward_order)}
    dt = trace.dtype

    nodes = [_node_view(trace, by_name[name], forward[name], backward.get(name), students.get(name))
             for name in order]
    edges = [EdgeView(e.source, e.target, edge_label(e), None if e.local is None else text(e.local, dt), e.rule,
                      text(e.upstream, dt), None if e.downstream is None else text(e.downstream, dt),
                      backward.get(e.target, 0),  # what the child sends back, at its backward step
                      None if e.downstream is None else compact(e.downstream), e.vjp)
             for e in trace.edges]
    steps = [Step(0, "start", None, "the graph, before the forward pass",
                  [f"{len(order)} nodes in topological order: {', '.join(order)}. Press → (or the buttons) "
                   "to compute the forward pass one node at a time, then the backward pass from the output."])]
    steps += [_forward_step(trace, by_name[name], forward[name], len(order)) for name in order]
    steps += [_backward_step(trace, by_name[name], backward[name], i + 1, len(backward_order), symbol,
                             students.get(name))
              for i, name in enumerate(backward_order)]
    _mark_births(trace, steps, order, backward_order, symbol)
    return Explorer(trace_title(trace), symbol, dt, nodes, edges, steps, placed, unused)


def _node_view(trace: Trace, node: TraceNode, forward: int, backward: int | None,
               student: Student | None) -> NodeView:
    dt = trace.dtype
    terms = [Term(e.target, text(e.upstream, dt), text(e.local, dt), e.rule, text(e.downstream, dt), _summed(e))
             for e in trace.outgoing(node.name) if e.local is not None]
    title = node.name if node.op == "input" else f"{node.name} = {node.expr}"
    grad = None if node.grad is None else text(node.grad, dt)
    return NodeView(node.name, title, node.op, text(node.value, dt), compact(node.value), grad,
                    None if node.grad is None else compact(node.grad), forward, backward,
                    node.name == trace.output, terms, student,
                    None if student is None else text(student.grad, dt))


def _summed(edge: TraceEdge) -> bool:
    """Is downstream the sum of upstream × local over a vector's elements (a scalar parent of a
    vector child: the vector-Jacobian product), rather than the product itself?"""
    return isinstance(edge.upstream, list) and not isinstance(edge.downstream, list)


def _product(edge: TraceEdge, dt: str) -> str:
    """upstream × local as numbers: "Σ" and the element count where the products are summed; for a
    tensor op, the vector–Jacobian product it is (no product of those numbers gives it)."""
    if edge.vjp:
        count = len(edge.upstream) if isinstance(edge.upstream, list) else 1
        return (f"Jᵀ·{text(edge.upstream, dt)}, the vector–Jacobian product of {edge.target}'s op "
                f"({count} upstream number{'s' * (count != 1)} in)")
    both = f"{text(edge.upstream, dt)} × {text(edge.local, dt)}"
    if isinstance(edge.upstream, list) and _summed(edge):
        return f"Σ {both} (summed over its {len(edge.upstream)} elements)"
    return both


def _parents(trace: Trace, name: str) -> list[TraceEdge]:
    return [e for e in trace.edges if e.target == name]


def _values_of(trace: Trace, names: list[str]) -> str:
    values = {n.name: n.value for n in trace.nodes}
    return ", ".join(f"{name} = {text(values[name], trace.dtype)}" for name in names)


def _forward_step(trace: Trace, node: TraceNode, index: int, total: int) -> Step:
    value = text(node.value, trace.dtype)
    if node.op == "input":
        what = "data (no gradient is computed for it)" if node.grad is None else "an input"
        return Step(index, "forward", node.name, f"forward {index} of {total}: {node.name}",
                    [f"{node.name} = {value}: {what}, given."])
    parents = [e.source for e in _parents(trace, node.name)]
    return Step(index, "forward", node.name, f"forward {index} of {total}: {node.name} = {node.expr}",
                [f"from {_values_of(trace, list(dict.fromkeys(parents)))}:",
                 f"{node.name} = {node.expr} = {value}  ({node.op})"])


def _gradient_line(trace: Trace, node: TraceNode, symbol: str) -> str:
    """∂f/∂node and where it comes from: the seed 1 at the output, else the sum over its outgoing edges."""
    dt, d = trace.dtype, partial(symbol, node.name)
    if node.name == trace.output:
        return f"{d} = {text(node.grad, dt)}: the output itself (∂{symbol}/∂{symbol} = 1 seeds the backward pass)"
    edges = [e for e in trace.outgoing(node.name) if e.local is not None]
    if not edges:
        return f"{d} = {text(node.grad, dt)}: the output does not depend on {node.name}"
    if len(edges) == 1:
        e = edges[0]
        times = "Σ " if _summed(e) else ""
        return (f"{d} = {times}{partial(symbol, e.target)} × ∂{e.target}/∂{node.name} = {_product(e, dt)} = "
                f"{text(node.grad, dt)}  (via {e.target}, its one outgoing edge)")
    terms = " + ".join(f"{text(e.downstream, dt)} via {e.target}" for e in edges)
    return f"{d} = {terms} = {text(node.grad, dt)}  (the sum over its {len(edges)} outgoing edges)"


def _backward_step(trace: Trace, node: TraceNode, index: int, count: int, total: int, symbol: str,
                   student: Student | None) -> Step:
    dt = trace.dtype
    lines = [_gradient_line(trace, node, symbol)]
    marks = []
    if student is not None:
        mine = f"yours: {partial(symbol, node.name)} = {text(student.grad, dt)}"
        if student.wrong:  # said once, as the step's mark
            why = f" ({student.note})" if student.note else ""
            marks.append(Mark("wrong", f"{mine} is wrong{why}; the true one is {text(node.grad, dt)}",
                              node=node.name))
        else:
            lines.append(f"{mine}: right")
    incoming = _parents(trace, node.name)
    if not incoming:
        lines.append(f"{node.name} is an input: the backward pass ends here on this path.")
    else:
        rule = "Jᵀ · upstream, the vector–Jacobian product" if any(e.vjp for e in incoming) else "upstream × local"
        lines.append(f"{node.name} sends its gradient back to its inputs: downstream = {rule}")
    for e in incoming:
        if e.local is None:
            lines.append(f"  to {e.source}: data, no gradient flows")
            continue
        lines.append(f"  to {e.source}: local ∂{node.name}/∂{e.source} = {e.rule} = {text(e.local, dt)}; "
                     f"downstream = {_product(e, dt)} = {text(e.downstream, dt)}")
    heading = f"backward {count} of {total}: {partial(symbol, node.name)}"
    return Step(index, "backward", node.name, heading, lines, marks)


def _forward_birth(trace: Trace, node: TraceNode, kind: str) -> str | None:
    """Is a nan (or an infinity) born in this node's value, from parents that have none?"""
    values = {n.name: n.value for n in trace.nodes}
    parents = list(dict.fromkeys(e.source for e in _parents(trace, node.name)))
    if not _has(node.value, kind) or any(_has(values[p], kind) for p in parents):
        return None
    source = f" from {_values_of(trace, parents)}" if parents else " (an input)"
    return f"{kind} is born here: {node.name} = {node.expr}{source}"


def _backward_birth(trace: Trace, node: TraceNode, kind: str, symbol: str) -> tuple[str, int | None] | None:
    """Is a nan (or an infinity) born at this node's backward step: in its gradient (a sum of
    terms that have none: inf + -inf), in a local derivative (of parents that have none), or in
    a downstream product (of an upstream and a local that have none: 0 × inf)? What, and on
    which edge (its index in trace.edges; None: in the node's gradient)."""
    dt = trace.dtype
    values = {n.name: n.value for n in trace.nodes}
    terms = [e.downstream for e in trace.outgoing(node.name) if e.local is not None]
    if node.name != trace.output and _has(node.grad, kind) and not any(_has(t, kind) for t in terms):
        return f"{kind} is born here: {_gradient_line(trace, node, symbol)}", None
    incoming = _parents(trace, node.name)
    clean = not any(_has(values[e.source], kind) for e in incoming)
    for e in incoming:
        index = trace.edges.index(e)
        if _has(e.local, kind) and clean:
            return f"{kind} is born here: the local ∂{node.name}/∂{e.source} = {e.rule} = {text(e.local, dt)}", index
        if _has(e.downstream, kind) and not _has(e.upstream, kind) and not _has(e.local, kind):
            how = "" if e.vjp else "upstream × local = "
            return (f"{kind} is born here: the downstream to {e.source} = {how}{_product(e, dt)} = "
                    f"{text(e.downstream, dt)}"), index
    return None


def _mark_births(trace: Trace, steps: list[Step], order: list[str], backward_order: list[str], symbol: str) -> None:
    """Mark every step where a nan or an infinity is born (not merely passed on): in the
    forward pass in a node's value, in the backward pass in a gradient, a local derivative or
    a downstream product. An infinity is often the cause of the nan after it (0 × inf)."""
    by_name = {n.name: n for n in trace.nodes}
    for kind in ("nan", "inf"):
        for i, name in enumerate(order, start=1):
            why = _forward_birth(trace, by_name[name], kind)
            if why:
                steps[i].marks.append(Mark(kind, why, node=name))
        for i, name in enumerate(backward_order, start=len(order) + 1):
            found = _backward_birth(trace, by_name[name], kind, symbol)
            if found:
                why, edge = found
                steps[i].marks.append(Mark(kind, why, node=name if edge is None else None, edge=edge))
