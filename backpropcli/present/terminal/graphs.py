"""--trace (the chain rule node by node) and --autograd-graph (PyTorch's backward graph as a tree)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from backpropcli.present.fmt import partial, short
from backpropcli.present.terminal.fit import Fit


def trace(traced, symbol: str = "f") -> Group:
    """The report's hand derivation as two tables: nodes (forward values, upstream grads)
    and edges (local gradient, upstream, downstream = upstream × local)."""
    dt = traced.dtype
    nodes = Table(title=traced.title, title_justify="left")
    nodes.add_column("node", no_wrap=True)
    nodes.add_column("expression", no_wrap=True)
    nodes.add_column("value", justify="right")
    nodes.add_column(partial(symbol, "node"), justify="right", style="red")
    nodes.add_column("= sum over outgoing edges")
    for node in traced.nodes:
        edges = traced.outgoing(node.name)
        if node.name == traced.output:
            how = f"the output: ∂{symbol}/∂{symbol} = 1" if "/" not in symbol else f"the output ({symbol}): 1"
        elif node.grad is None:
            how = "data: no gradient needed"
        elif len(edges) == 1:
            how = f"via {edges[0].target}"
        else:
            how = " + ".join(f"{short(e.downstream, 6)} via {e.target}" for e in edges)
        nodes.add_row(node.name, node.expr if node.op != "input" else "input", short(node.value, dtype=dt),
                      short(node.grad, dtype=dt), how)

    edges = Table(title=f"chain rule along each edge parent → child: downstream = upstream × local "
                  f"(local = ∂child/∂parent, upstream = {partial(symbol, 'child')})", title_justify="left")
    edges.add_column("edge", no_wrap=True)
    edges.add_column("local", justify="right")
    edges.add_column("rule")
    edges.add_column("upstream", justify="right", style="red")
    edges.add_column("downstream", justify="right", style="red")
    for e in traced.edges:
        edges.add_row(f"{e.source} → {e.target}", short(e.local, dtype=dt), e.rule, short(e.upstream, dtype=dt),
                      short(e.downstream, dtype=dt))
    return Group(Fit(nodes), Fit(edges))


def autograd_graphs(trees: dict[str, dict], title: str, typed: bool = False,
                    of_derivative: bool = False) -> Group:
    """``typed``: the graph is a typed expression's, not the report's; ``of_derivative``: the
    trees are of f′, recorded by create_graph=True."""
    from rich.tree import Tree

    labels = {"custom": "custom Function (one node: its backward is hand-written)",
              "graph": "the expression's graph (one node per operation)" if typed
              else "the report's decomposed graph (one node per primitive)",
              "loss": "the report's training loss, mean((y - (W*x + b))**2)"}
    if of_derivative:  # the graph of f′ that a second backward pass walks
        labels = {"custom": "f′ from the custom Function's backward, recorded by create_graph=True "
                            "(the ops its backward ran)",
                  "graph": "f′ from the report's decomposed graph, recorded by create_graph=True"}

    def grow(branch, node):
        for child in node["children"]:
            grow(branch.add(child["name"]), child)

    parts = [Text(title, style="bold")]
    for kind, tree in trees.items():
        root = Tree(Text.assemble((labels.get(kind, kind), "dim"), "\n", tree["name"]))
        grow(root, tree)
        parts.append(root)
    return Group(*parts)
