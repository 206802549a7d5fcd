"""The function library: one module per function, and a registry by name.

Importing this package imports torch and mpmath; the CLI does so only inside
the commands that need it.
"""

from __future__ import annotations

import importlib.util

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


def resolve(name_or_text: str) -> FunctionSpec:
    """The one place a function argument is understood: a registered name means the built-in;
    any other text is an expression, once the expressions package exists."""
    if name_or_text in REGISTRY or importlib.util.find_spec("backpropcli.expressions") is None:
        return get(name_or_text)
    from backpropcli import expressions

    return expressions.spec(name_or_text)


__all__ = ["REGISTRY", "Formulas", "FunctionSpec", "Reference", "get", "register", "resolve"]
