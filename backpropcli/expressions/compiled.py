"""The expression as a FunctionSpec: compile(text, params) and the annotate hook (see __init__)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from backpropcli.core import tolerance
from backpropcli.errors import InputError
from backpropcli.expressions import graph as graphs
from backpropcli.expressions import parse as parsing
from backpropcli.expressions import precision, symbolic
from backpropcli.expressions.truth import BUILD_SECONDS, Truth
from backpropcli.functions.spec import Formulas, FunctionSpec
from backpropcli.io import deadline
from backpropcli.present.fmt import general


@dataclass(eq=False)
class Expression:
    """A parsed expression with its symbolic and graph forms (built once, lazily where costly)."""

    parsed: parsing.Parsed
    variables: tuple[str, ...]
    sym: object  # sympy.Expr
    truth: Truth
    steps: list = field(repr=False)
    output: str = ""

    @property
    def text(self) -> str:
        return self.parsed.text

    @cached_property
    def builder(self):
        return graphs.builder(self.parsed.tree)

    def derivatives(self, order: int = 1) -> dict[str, str]:
        """Symbolic f' (order 1) or f'' (order 2) as text, e.g. {"df/dx": "x*cos(x) + sin(x)"}."""
        if order >= 2 and self.truth.refuse_second:
            raise InputError(self.truth.refuse_second)
        return dict(_strings(self.sym, self.variables, order))  # a copy: the cached one is shared

    def precision(self, points: dict[str, list[float]], params: dict[str, float],
                  order: int = 1, refs: list | None = None, totals: list | None = None
                  ) -> list[precision.PointPrecision]:
        """Digits the graph's derivative loses at each point, and the node where the loss is born.
        ``refs``: the References already computed at these points (order ``order``), if any;
        ``totals``: the digits lost per point as the check measured them, if any."""
        return precision.analyse(self.steps, self.output, self.builder, self.variables, self.truth,
                                 points, _used(params, self.parsed.params), order, refs, totals)


@dataclass(frozen=True)
class ExpressionSpec(FunctionSpec):
    """A FunctionSpec for a typed expression; ``expression`` holds what only expressions have."""

    expression: Expression | None = None


TOLERANCE = 5.95  # digits: log10(rtol/u) in float64 (tolerance.verdict_digits); more lost is FAILED
_BY_NAME: dict[str, ExpressionSpec] = {}  # normalised text -> spec: the name re-resolves without a re-parse


def compile(text: str, params: dict[str, float | None] | None = None) -> ExpressionSpec:
    """Parse ``text`` and build its FunctionSpec (once per text); InputError (exit 2) for anything
    refused, including a parameter that is used but not given in ``params``."""
    spec = _BY_NAME.get(text) or _compiled(text)
    params = params or {}
    missing = [p for p in spec.params if params.get(p) is None]
    if missing:
        flags = ", ".join(f"--{p}" for p in missing)
        raise InputError(f"parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)} used in "
                         f"{spec.name!r} but not given ({flags} or the config)")
    return spec


@lru_cache(maxsize=64)
def _compiled(text: str) -> ExpressionSpec:
    parsed = parsing.parse(text)
    variables = parsed.variables or ("x",)
    sym = symbolic.to_sympy(parsed.tree)
    symbolic.refuse_undefined(sym, parsed.text)
    steps, out = graphs.lower(parsed.tree)
    try:
        refuse_second = deadline.within(BUILD_SECONDS, symbolic.second_order_refusal, sym, variables, len(steps))
    except deadline.TimeUp:
        refuse_second = f"sympy took longer than {general(BUILD_SECONDS)} s to differentiate this expression; use grad"
    truth = Truth(sym, parsed.tree, variables, refuse_second)
    expression = Expression(parsed, variables, sym, truth, steps, out)
    first = _strings(sym, variables, 1)
    second = {} if refuse_second else _strings(sym, variables, 2)
    derivative_graph = None
    if len(variables) == 1:
        try:
            derivative_graph = deadline.within(BUILD_SECONDS, lambda: graphs.builder(
                graphs.from_sympy(symbolic.gradient(sym, variables)[0]), "u"))
        except (ValueError, deadline.TimeUp):  # e.g. a DiracDelta from abs'': no graph of f' in torch ops
            derivative_graph = None
    spec = ExpressionSpec(
        name=parsed.text,
        summary=f"f({', '.join(variables)}) = {parsed.text}, typed",
        variables=variables,
        params=parsed.params,
        custom=None,
        graph=expression.builder,
        graph_title="graph of the expression",
        reference=_reference(truth, parsed.params),
        formulas=Formulas(f=symbolic.text(sym), df=", ".join(f"{k} = {v}" for k, v in first.items()),
                          d2f=", ".join(f"{k} = {v}" for k, v in second.items()) or "(too large to print)"),
        derivative_graph=derivative_graph,
        derivative_graph_title="sympy f′ graph" if derivative_graph else None,
        annotate=_annotate(expression),
        prepare=truth.prepare,
        prefetch=lambda points, params: truth.prefetch(dict(points), _used(dict(params), parsed.params)),
        expression=expression,
    )
    if len(_BY_NAME) >= 256:
        _BY_NAME.clear()
    _BY_NAME[parsed.text] = spec
    return spec


@lru_cache(maxsize=128)
def _strings(sym, variables: tuple[str, ...], order: int) -> dict[str, str]:
    """The symbolic derivatives as text, or one entry saying sympy took too long."""
    try:
        return deadline.within(BUILD_SECONDS, symbolic.derivative_strings, sym, variables, order)
    except deadline.TimeUp:
        key = "df" if order == 1 else "d2f"
        return {key: f"(sympy took longer than {general(BUILD_SECONDS)} s; the numerical truth is used)"}


def _annotate(expression: Expression):
    """The hook checks.derivatives calls on every finished check of an expression: the symbolic
    derivatives, and per point the digits lost and the node where the loss is born."""

    def annotate(check) -> None:
        order = int(check.order)
        check.extra["expression"] = expression.text
        derivatives = expression.derivatives(1)
        if order >= 2:
            derivatives.update(expression.derivatives(2))
        check.extra["derivatives"] = derivatives
        points = {v: [p.inputs[v] for p in check.points] for v in expression.variables}
        refs = [p.reference for p in check.points]  # the truth the check already computed
        # the check's digits, in its yardstick; the node walk is in float64, so only a float64 check's
        totals = [_digits(check, p) for p in check.points] if check.dtype == "float64" else None
        results = expression.precision(points, check.params, order,
                                       refs=None if any(r is None for r in refs) else refs, totals=totals)
        for point, result in zip(check.points, results):
            worst = result.worst_node
            point.extra["digits_lost"] = result.digits_lost
            point.extra["worst_node"] = None if worst is None else {
                "name": worst.name, "expression": worst.expression, "digits_lost": worst.digits_lost,
                "own_derivative": result.own_derivative}
            point.extra["reason"] = result.reason
            point.shared_overflow = result.shared_overflow
        check.extra["precision"] = precision.summary(results, tolerance.verdict_digits("float64"),
                                                     expression.variables[0])

    return annotate


def _digits(check, point) -> float | None:
    """The most digits autograd through the graph lost at a point, by the verdict's yardstick."""
    if not point.checked:
        return None
    return max(c.digits_lost or 0.0 for _, c in check.entries(point))


def _used(params: dict, names: tuple[str, ...]) -> dict[str, float]:
    return {p: float(params[p]) for p in names}


def _reference(truth: Truth, names: tuple[str, ...]):
    def reference(inputs: dict, params: dict, order: int = 1):
        return truth(inputs, _used(params, names), order)
    return reference


__all__ = ["Expression", "ExpressionSpec", "compile"]
