"""--trace (the chain rule node by node) and --autograd-graph (PyTorch's backward graph as a tree)."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from backpropcli.present import tables
from backpropcli.present.fmt import partial, short, vector
from backpropcli.present.terminal.fit import Fit


def _data_table(title: str | None = None) -> Table:
    """A table of numbers without boxes: rules under the header only, so five columns of numbers
    fit 80 columns."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                 collapse_padding=True, show_edge=False)


def _cell(value, dtype: str, items: int, digits: int = 10) -> str:
    """A number, or a vector's first `items` entries ("[0, 0.65, …]": the caption says how many)."""
    if isinstance(value, list) and len(value) > items:
        return vector(value, 6, items)
    return short(value, digits, items, dtype)


def _cut_caption(traced, items: int) -> str | None:
    """Under a table whose vectors are cut: how many entries of how many it shows."""
    longest = max((len(v) for n in traced.nodes for v in (n.value, n.grad) if isinstance(v, list)), default=0)
    if longest <= items:
        return None
    return f"vectors: the first {items} of {longest} entries (--json has them all)"


def _nodes(traced, symbol: str, items: int) -> Table:
    dt = traced.dtype
    headers = tables.node_headers(symbol)
    nodes = _data_table(tables.trace_title(traced))
    nodes.caption, nodes.caption_justify = _cut_caption(traced, items), "left"
    nodes.add_column(headers[0], no_wrap=True)
    nodes.add_column(headers[1], no_wrap=True)
    nodes.add_column(headers[2], justify="right", no_wrap=True)  # a number or a vector is never folded
    nodes.add_column(headers[3], justify="right", style="red", no_wrap=True)
    rows = []
    for row in tables.node_rows(traced):
        edges = traced.outgoing(row["name"])
        if row["name"] == traced.output:
            how = f"output: ∂{symbol}/∂{symbol} = 1" if "/" not in symbol else f"output ({symbol}): 1"
        elif row["grad"] is None:
            how = "data: no gradient"
        elif len(edges) == 1:
            how = f"via {edges[0].target}"
        else:
            how = " + ".join(f"{_cell(e.downstream, dt, items, 4)} via {e.target}" for e in edges)
        rows.append((row["name"], tables.shown_expression(row), _cell(row["value"], dt, items),
                     _cell(row["grad"], dt, items), how))
    # the sum is a short phrase; it wraps only when it is long (a node feeding many), never to make room
    # for numbers: those are cut to fewer entries instead
    nodes.add_column("= sum over edges", min_width=min(20, max(len(r[-1]) for r in rows)))
    for cells in rows:
        nodes.add_row(*cells)
    return nodes


def _edges(traced, symbol: str, items: int) -> Table:
    dt = traced.dtype
    edges = _data_table(f"chain rule along each edge parent → child: downstream = upstream × local "
                        f"(local = ∂child/∂parent, upstream = {partial(symbol, 'child')})")
    edges.caption, edges.caption_justify = _cut_caption(traced, items), "left"
    edges.add_column("edge", no_wrap=True)
    edges.add_column("local", justify="right", no_wrap=True)
    edges.add_column("rule")
    edges.add_column("upstream", justify="right", style="red", no_wrap=True)
    edges.add_column("downstream", justify="right", style="red", no_wrap=True)
    for row in tables.edge_rows(traced):
        edges.add_row(tables.edge_name(row), _cell(row["local"], dt, items), row["rule"],
                      _cell(row["upstream"], dt, items), _cell(row["downstream"], dt, items))
    return edges


def trace(traced, symbol: str = "f") -> Group:
    """The report's hand derivation as two tables: nodes (forward values, upstream grads)
    and edges (local gradient, upstream, downstream = upstream × local). Where the vectors of a
    run's data make a table too wide, they show their first entries (the caption says so)."""
    return Group(*(Fit(make(traced, symbol, 4), shorter=tuple(make(traced, symbol, k) for k in (3, 2, 1)))
                   for make in (_nodes, _edges)))


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

    parts: list[RenderableType] = [Text(title, style="bold")]
    for kind, tree in trees.items():
        root = Tree(Text.assemble((labels.get(kind, kind), "dim"), "\n", tree["name"]))
        grow(root, tree)
        parts.append(root)
    return Group(*parts)
