"""The function library: one module per function, and a registry by name.

Importing this package imports torch and mpmath; the CLI does so only inside
the commands that need it.
"""

from __future__ import annotations

from backpropcli.errors import InputError
from backpropcli.functions import quad, sinc, softplus
from backpropcli.functions.spec import Formulas, FunctionSpec, Reference
from backpropcli.functions.warmup import warm_unary_ops

warm_unary_ops()  # before any large call: see warmup.py (pytorch/pytorch#188792)

REGISTRY: dict[str, FunctionSpec] = {spec.name: spec for spec in (sinc.SPEC, quad.SPEC, softplus.SPEC)}


def register(spec: FunctionSpec) -> FunctionSpec:
    """Add a function to the registry: every command, config and the report then know it."""
    REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> FunctionSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown function {name!r}; known functions: {', '.join(REGISTRY)}") from None


def resolve(name_or_text: str, params: dict[str, float | None] | None = None) -> FunctionSpec:
    """The one place a function argument is understood: a registered name means the built-in;
    any other text is an expression (backpropcli.expressions, compiled once per text), whose
    parameters must be among ``params`` (an InputError names any that are used but not given)."""
    if name_or_text in REGISTRY:
        return REGISTRY[name_or_text]
    if isinstance(name_or_text, str) and name_or_text.strip().isidentifier():
        _refuse_bare_name(name_or_text.strip())
    from backpropcli import expressions

    return expressions.compile(name_or_text, params)


def _refuse_bare_name(name: str) -> None:
    """A bare word that is not registered: most likely a mistyped function name, not an expression
    (x, y, a, b, c, pi and e alone are expressions: f = x is a function too)."""
    from backpropcli.expressions.parse import refuse_bare_name

    refuse_bare_name(name, tuple(REGISTRY))


__all__ = ["REGISTRY", "Formulas", "FunctionSpec", "Reference", "get", "register", "resolve"]
