"""What the registry holds for each function, side by side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    name: str
    variables: tuple[str, ...]
    params: tuple[str, ...]
    custom: Callable  # the autograd.Function's apply: custom(*variables, *params)
    graph: GraphBuilder  # the report's decomposed graph of f
    graph_title: str  # e.g. "Figure 4"
    reference: Callable[..., Reference]  # reference(inputs: dict, params: dict, order: int)
    formulas: Formulas
    derivative_graph: GraphBuilder | None = None  # the report's graph of f' (Figure 7 for softplus)
    derivative_graph_title: str | None = None
