"""What the registry holds for each function, side by side: the one place a function is described."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from backpropcli.functions.graph import GraphBuilder


@dataclass(frozen=True)
class Reference:
    """Ground truth from mpmath at 50 significant digits, rounded to float64.

    ``*_scale`` is the size of the terms that cancel in the quantity (the natural
    yardstick for an absolute error where the quantity itself is near zero).
    """

    value: float
    value_scale: float
    gradient: dict[str, float]
    gradient_scale: dict[str, float]
    hessian: list[list[float]] | None = None
    hessian_scale: list[list[float]] | None = None


@dataclass(frozen=True)
class Formulas:
    f: str
    df: str
    d2f: str


@dataclass(frozen=True)
class FunctionSpec:
    """A function and everything the tool says about it.

    ``custom`` is the hand-written autograd.Function's apply, called as
    custom(*variables, *params); None where there is none (a typed expression):
    then the checks judge autograd through ``graph`` instead.
    """

    name: str
    summary: str  # one line, e.g. "f(x) = sin(x)/x, report section 3.2"
    variables: tuple[str, ...]
    custom: Callable | None
    graph: GraphBuilder  # the report's decomposed graph of f
    reference: Callable[..., Reference]  # reference(inputs: dict, params: dict, order: int)
    formulas: Formulas
    graph_title: str = "its graph"  # e.g. "Figure 4"
    points: Mapping[str, list[float]] = field(default_factory=dict)  # default points; a variable without must be given
    params: tuple[str, ...] = ()
    param_defaults: Mapping[str, float] = field(default_factory=dict)  # a param without one must be given
    derivative_graph: GraphBuilder | None = None  # the report's graph of f' (Figure 7 for softplus)
    derivative_graph_title: str | None = None
    heading: str = ""  # the report's section heading; empty: the summary
    derivative_figure: bool = False  # the report draws the graph of f' too (Figure 7)
    singular_points: tuple[float, ...] = ()  # where the report's naive graph breaks (its corrections)
    # annotate(check): called on every finished check of this function, to add fields to check.extra
    # and point.extra (e.g. an expression's derivatives, digits_lost, worst_node) or to judge further
    annotate: Callable[[object], None] | None = None
