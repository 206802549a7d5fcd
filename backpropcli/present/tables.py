"""What every presenter tabulates the same way: the names of the methods, a trace's title, node
rows and edge rows. The terminal, the report, the figures and the JSON payloads read them from
here, so a column is named and filled once; each of them only formats the cells."""

from __future__ import annotations

from collections.abc import Iterator

from backpropcli.present.fmt import general, partial

# the columns of a derivative check, in display order, as people read them
METHOD_LABELS = {
    "analytic": "analytic",
    "custom": "custom",
    "autograd": "autograd",
    "finite_difference": "finite diff",
    "derivative_graph": "f′ graph",
}


def method_label(method: str, derivative_label: str | None = None) -> str:
    """A method's column name; the graph of f′ goes by the function's own name for it (Figure 7)
    where that is as short as the others."""
    if method == "derivative_graph" and derivative_label and len(derivative_label) <= len("finite diff"):
        return derivative_label
    return METHOD_LABELS[method]


def method_meanings(check, derivative_label: str | None = None) -> list[tuple[str, str]]:
    """(column, what it is) for each column of a grad or hessian check: the legend under a table,
    the report's column notes and the figures' labels say the same."""
    first = check.order == 1  # the gradient; 2: the Hessian
    typed = "expression" in check.extra  # a function the user typed
    rows = [("analytic", "sympy's derivative of the same tree at 50 digits (two-sided limits where 0/0), "
             "confirmed by finite differences of the tree in mpmath" if typed else "closed form, mpmath at 50 digits")]
    if check.has_custom:
        rows.append(("custom", "the autograd.Function's backward" if first
                     else "reverse over reverse through the custom backward"))
    if typed:
        rows.append(("autograd", "through the expression's graph, one node per operation"
                     + ("" if first else ", reverse over reverse")))
    else:
        rows.append(("autograd", "through the report's decomposed graph"))
    rows.append(("finite diff", f"central difference of {'f' if first else 'the gradient'}"))
    if derivative_label and not first and len(check.variables) == 1:
        whose = "the graph of the symbolic f′" if typed else "the report's graph of f′"
        rows.append((method_label("derivative_graph", derivative_label), f"autograd through {whose}"))
    return rows


# ---- a trace: the chain rule node by node and edge by edge -------------------------------------------


def where(inputs: dict[str, float]) -> str:
    """"x = 2", "W = 0.3, b = -0.3": a point as the user typed it."""
    return ", ".join(f"{k} = {general(v)}" for k, v in inputs.items())


def trace_title(traced, figure: bool = True) -> str:
    """"sinc: the report's graph (Figure 4) at x = 2"; without the figure's name where a caption
    says it already."""
    text = traced.caption + (f" ({traced.figure})" if figure and traced.figure else "")
    return f"{text} at {where(traced.at)}" if traced.at else text


def node_headers(symbol: str) -> list[str]:
    return ["node", "expression", "value", partial(symbol, "node")]


EDGE_HEADERS = ["edge", "local ∂child/∂parent", "rule", "upstream", "downstream = upstream × local"]


def node_rows(traced) -> Iterator[dict]:
    """One row per node: name, expression ("input" for a leaf), op, value, ∂f/∂node (None for data)."""
    for n in traced.nodes:
        yield {"name": n.name, "expr": n.expr, "op": n.op, "value": n.value, "grad": n.grad}


def edge_rows(traced) -> Iterator[dict]:
    """One row per edge parent → child: the local gradient, its rule, upstream and downstream."""
    for e in traced.edges:
        yield {"from": e.source, "to": e.target, "local": e.local, "upstream": e.upstream,
               "downstream": e.downstream, "rule": e.rule}


def shown_expression(row: dict) -> str:
    return "input" if row["op"] == "input" else row["expr"]


def edge_name(row: dict) -> str:
    return f"{row['from']} → {row['to']}"
