"""The function library: one module per function, and a registry by name.

Importing this package imports torch and mpmath; the CLI does so only inside
the commands that need it.
"""

from __future__ import annotations

from backpropcli.errors import InputError
from backpropcli.functions import quad, sinc, softplus
from backpropcli.functions.spec import FunctionSpec, Reference
from backpropcli.functions.warmup import warm_unary_ops

warm_unary_ops()  # before any large call: see warmup.py (pytorch/pytorch#188792)

REGISTRY: dict[str, FunctionSpec] = {spec.name: spec for spec in (sinc.SPEC, quad.SPEC, softplus.SPEC)}


def get(name: str) -> FunctionSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown function {name!r}; known functions: {', '.join(REGISTRY)}") from None


__all__ = ["REGISTRY", "FunctionSpec", "Reference", "get"]
