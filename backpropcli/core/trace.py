"""Chain-rule traces of a recorded graph: the report's derivations, with PyTorch's numbers.

For every node: its forward value and its upstream gradient df/dnode, read from
the real graph with retain_grad() after one backward pass. For every edge
parent -> child: the local gradient d child / d parent (a partial derivative:
the child's own op differentiated in that one parent, the other parents held
fixed), the child's upstream gradient, and the downstream contribution that
backprop sends to the parent (a vector-Jacobian product). A node's gradient is
the sum of the contributions along its outgoing edges; `Trace.consistent`
checks that against what PyTorch accumulated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from backpropcli.core.regression import loss_graph
from backpropcli.functions.graph import Graph, GraphBuilder, build

Number = float | list[float]


@dataclass
class TraceNode:
    name: str
    expr: str
    op: str
    value: Number
    grad: Number | None  # df/dnode; None for inputs that do not require grad (data)


@dataclass
class TraceEdge:
    source: str  # the parent (input side of the forward pass)
    target: str  # the child
    local: Number | None  # d target / d source; None where the source is data (no gradient)
    upstream: Number  # df/dtarget
    downstream: Number | None  # the contribution to df/dsource
    rule: str  # the local gradient in symbols, e.g. "cos(x)" or "v2 (mul swaps)"
    # a tensor op (manual's graph): downstream is the vector–Jacobian product Jᵀ·upstream, which
    # is upstream × local only for an elementwise op; local is then Jᵀ·1, for the picture
    vjp: bool = False


@dataclass
class Trace:
    caption: str  # what graph it is, in words (no numbers): "sinc: the report's graph"
    output: str
    nodes: list[TraceNode]
    edges: list[TraceEdge] = field(default_factory=list)
    dtype: str = "float64"  # how many digits its numbers mean
    at: dict[str, float] = field(default_factory=dict)  # where it was traced (x = 2; W = 0.3, b = -0.3)
    figure: str | None = None  # the report's figure it redraws ("Figure 4")

    def outgoing(self, name: str) -> list[TraceEdge]:
        return [e for e in self.edges if e.source == name]

    def consistent(self, rel: float = 1e-12) -> bool:
        """Does every node's gradient equal the sum of its downstream contributions?"""
        for node in self.nodes:
            edges = self.outgoing(node.name)
            if not edges or node.grad is None:
                continue
            total = _add([e.downstream for e in edges])
            for got, want in zip(_flat(total), _flat(node.grad)):
                if not (math.isnan(got) and math.isnan(want)) and abs(got - want) > rel * max(abs(want), 1e-300):
                    return False
        return True


def _flat(value: Number | None) -> list[float]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _add(values: list[Number | None]) -> Number:
    scalars = [v for v in values if isinstance(v, float | int)]
    if len(scalars) == len(values):
        return math.fsum(scalars) if all(math.isfinite(v) for v in scalars) else sum(scalars)
    return [sum(parts) for parts in zip(*[_flat(v) for v in values])]


def _number(tensor) -> Number:
    values = tensor.detach().reshape(-1).tolist()
    return values[0] if len(values) == 1 else values


def trace_graph(graph: Graph, caption: str, at: dict[str, float], figure: str | None = None) -> Trace:
    """Backpropagate through an already recorded graph and read off every number."""
    import torch

    for node in graph.nodes.values():
        if node.parents and node.tensor.requires_grad:
            node.tensor.retain_grad()
    output = graph.result
    output.backward(torch.ones_like(output))

    nodes = []
    for node in graph.nodes.values():
        t = node.tensor
        if node.name == graph.output:
            grad = _number(torch.ones_like(t))
        elif t.requires_grad and t.grad is not None:
            grad = _number(t.grad)
        elif t.requires_grad:
            grad = _number(torch.zeros_like(t))  # does not reach the output
        else:
            grad = None
        nodes.append(TraceNode(node.name, node.expr, node.op.name, _number(t), grad))

    edges = []
    for node in graph.nodes.values():
        if not node.parents:
            continue
        child_grad = torch.ones_like(node.tensor) if node.name == graph.output else node.tensor.grad
        if child_grad is None:
            child_grad = torch.zeros_like(node.tensor)
        copies = [graph.nodes[p].tensor.detach().clone().requires_grad_(True) for p in node.parents]
        for index, parent in enumerate(node.parents):
            if not graph.nodes[parent].tensor.requires_grad:
                edges.append(TraceEdge(parent, node.name, None, _number(child_grad), None, "data"))
                continue
            local, downstream = _partials(node.op.forward, copies, index, child_grad)
            rule = node.op.rule(node.parents, index, copies[index].numel())
            edges.append(TraceEdge(parent, node.name, _number(local), _number(child_grad), _number(downstream), rule))
    assert graph.output is not None
    return Trace(caption, graph.output, nodes, edges, at=dict(at), figure=figure)


def _partials(fn, copies, index, upstream):
    """Local gradient d child/d parent (elementwise, or per element where shapes differ)
    and the downstream contribution (the vector-Jacobian product with the upstream grad)."""
    import torch

    args = list(copies)
    out = fn(*args)
    (downstream,) = torch.autograd.grad(out, args[index], grad_outputs=upstream, retain_graph=True)
    parent = args[index]
    if parent.numel() < out.numel():
        # a scalar parent broadcast over a vector child (W·x): one partial per element, by forward mode
        def recompute(p):
            return fn(*[p if i == index else a.detach() for i, a in enumerate(args)])

        local = torch.func.jvp(recompute, (parent.detach(),), (torch.ones_like(parent),))[1]
    else:
        # elementwise, or a reduction to a scalar (mean): d out/d parent_i with a unit upstream
        (local,) = torch.autograd.grad(out, parent, grad_outputs=torch.ones_like(out))
    return local, downstream


def function_trace(spec, inputs: dict[str, float], params: dict[str, float], derivative: bool = False) -> Trace:
    """The chain rule through the report's graph of f (or of f' for the Hessian) at one point."""
    import torch

    builder: GraphBuilder = spec.derivative_graph if derivative else spec.graph
    leaves = {v: torch.tensor(inputs[v], dtype=torch.float64, requires_grad=True) for v in spec.variables}
    # the parameters require grad too, so the trace shows df/da = x², df/db = x·y, df/dc = y²
    consts = {p: torch.tensor(params[p], dtype=torch.float64, requires_grad=True) for p in spec.params}
    graph = build(builder, {**leaves, **consts})
    figure = None
    if derivative:
        first = "f′" if len(spec.variables) == 1 else f"∂f/∂{spec.variables[0]}"
        caption = f"{spec.name}: the graph of {first} that the second derivative differentiates"
        if spec.derivative_figure:  # the report draws it (softplus: Figure 7)
            figure = spec.derivative_graph_title
    elif spec.custom is None:  # a typed expression
        caption = f"{spec.name}: its graph, one node per operation,"
    else:
        caption, figure = f"{spec.name}: the report's graph", spec.graph_title
    return trace_graph(graph, caption, inputs, figure)


def _regression_inputs(cfg, dataset, dtype) -> dict:
    import torch

    from backpropcli.core.regression import as_tensor

    return {
        "W": torch.tensor(cfg.w0, dtype=dtype, requires_grad=True),
        "b": torch.tensor(cfg.b0, dtype=dtype, requires_grad=True),
        "x": as_tensor(dataset.x, dtype),
        "y": as_tensor(dataset.y, dtype),
    }


def regression_trace(cfg, dataset) -> Trace:
    """The graph of the first iteration's loss at (W0, b0), with the gradients the update uses."""
    import torch

    inputs = _regression_inputs(cfg, dataset, getattr(torch, cfg.dtype))
    graph = build(loss_graph, inputs)
    traced = trace_graph(graph, "regression: one iteration's loss", {"W": cfg.w0, "b": cfg.b0})
    traced.dtype = cfg.dtype
    return traced


MAX_TREE_NODES = 200


def autograd_tree(tensor, leaf_names: dict[int, str]) -> dict:
    """PyTorch's own backward graph from tensor.grad_fn, walked through next_functions.

    A custom Function shows up as a single node (SincBackward); the report's
    graph as one node per primitive (MulBackward0, ReciprocalBackward0, ...).
    Returns nested {"name": str, "children": [...]}.
    """
    count = 0

    def walk(fn) -> dict:
        nonlocal count
        count += 1
        name = type(fn).__name__
        if name == "AccumulateGrad":
            name = f"AccumulateGrad ({leaf_names.get(id(fn.variable), 'leaf')})"
        children = []
        for next_fn, _ in fn.next_functions:
            if next_fn is not None and count < MAX_TREE_NODES:
                children.append(walk(next_fn))
        return {"name": name, "children": children}

    if tensor.grad_fn is None:
        return {"name": "(no grad_fn: nothing requires grad)", "children": []}
    return walk(tensor.grad_fn)


def function_autograd_graphs(spec, inputs: dict[str, float], params: dict[str, float],
                             derivative: bool = False) -> dict[str, dict]:
    """The backward graphs of the custom Function and of the report's graph, for f (or for f',
    the graph a second backward pass walks: create_graph=True records the custom backward)."""
    import torch

    trees = {}
    for kind in ("custom", "graph") if spec.custom is not None else ("graph",):
        leaves = {v: torch.tensor(inputs[v], dtype=torch.float64, requires_grad=True) for v in spec.variables}
        names = {id(t): v for v, t in leaves.items()}
        if kind == "custom":
            out = spec.custom(*leaves.values(), *[params[p] for p in spec.params])
        else:
            consts = {p: torch.tensor(params[p], dtype=torch.float64) for p in spec.params}
            out = build(spec.graph, {**leaves, **consts}).result
        if derivative:
            first = spec.variables[0]
            (out,) = torch.autograd.grad(out, leaves[first], create_graph=True)
        trees[kind] = autograd_tree(out, names)
    return trees


def regression_autograd_graph(cfg, dataset) -> dict[str, dict]:
    import torch

    dtype = getattr(torch, cfg.dtype)
    inputs = _regression_inputs(cfg, dataset, dtype)
    loss = build(loss_graph, inputs).result  # the same primitives as the report's line
    return {"loss": autograd_tree(loss, {id(inputs["W"]): "W", id(inputs["b"]): "b"})}


def gate_node(trace) -> str:
    """The node a one-gate figure shows: an inner node (not an input, not the output) whose
    upstream gradient is not 1, with the most inputs that carry a gradient."""
    scores = {}
    for node in trace.nodes:
        incoming = [e for e in trace.edges if e.target == node.name and e.local is not None]
        if node.op == "input" or node.name == trace.output or not incoming or isinstance(node.grad, list):
            continue
        scores[node.name] = (node.grad != 1, len(incoming))
    if not scores:  # a graph with no inner node: its output
        return trace.output
    return max(scores, key=lambda name: scores[name])
