"""What the registry holds for each function, side by side: the one place a function is described."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backpropcli.functions.graph import GraphBuilder


@dataclass(frozen=True)
class Reference:
    """Ground truth from mpmath at 50 significant digits, rounded to float64.

    ``*_scale`` is the size of the terms that cancel in the quantity: it explains a loss of digits
    near a zero of the quantity, and never enters a verdict.

    ``status`` says whether there is a truth to judge against: "ok"; "not-real" (f is complex
    here), "undefined" (f has no finite value or limit), "not-differentiable" (a kink, a cusp, a
    domain edge, a jump) or "truth-uncertain" (two independent truths disagree, or cannot be
    settled). Only an "ok" point is judged; ``cause`` and ``evidence`` say why another is not
    (e.g. cause "kink", evidence {"left": -1.0, "right": 1.0}). ``source`` names the truth used
    ("symbolic", "numerical"; empty for a built-in's closed form) and ``note`` why the numerical one
    was used. ``conditioning(dtype)``, where given, returns for f, the gradient and the Hessian
    (row-major) the sum over the inputs w of |w ∂q/∂w| that the verdict's rule allows for
    (core/tolerance.py); without it the check measures that itself from ``reference``.
    """

    value: float
    value_scale: float
    gradient: dict[str, float]
    gradient_scale: dict[str, float]
    hessian: list[list[float]] | None = None
    hessian_scale: list[list[float]] | None = None
    status: str = "ok"
    cause: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    note: str = ""
    conditioning: Callable[[str], list[float]] | None = field(default=None, repr=False, compare=False)


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
    # prepare(): called once before a check computes its references (a typed expression's
    # symbolic limits get a fresh time budget per check)
    prepare: Callable[[], None] | None = None
    # prefetch(points, params): called once with every point of a check (as rounded to its dtype)
    # before the per-point references (a typed expression certifies its ordinary points at once)
    prefetch: Callable[[Mapping[str, list[float]], Mapping[str, float]], None] | None = None
