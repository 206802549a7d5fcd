"""What a function takes — its variables, parameters and defaults — known before torch loads.

`functions.REGISTRY` imports torch (2-3 s); a usage error (`--x=abc`, `--y` for a function of x,
a wrong type in a config) must not wait for it. A built-in's signature is read from the literal
arguments of its module's ``SPEC = FunctionSpec(...)`` (tests/test_registry.py keeps them equal
to the registry: the registry stays the one place a function is described); an expression's
comes from parsing it, which is light too.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
FIELDS = ("name", "summary", "variables", "params", "points", "param_defaults")


@dataclass(frozen=True)
class Signature:
    """The part of a FunctionSpec that a config model needs (config.models.function_model)."""

    name: str
    summary: str
    variables: tuple[str, ...]
    params: tuple[str, ...] = ()
    points: dict[str, list[float]] = field(default_factory=dict)
    param_defaults: dict[str, float] = field(default_factory=dict)


def _literal(node: ast.expr, names: dict[str, ast.expr]) -> Any:
    """The value of a literal argument, following a module-level name (quad's params=PARAMS)."""
    if isinstance(node, ast.Name) and node.id in names:
        return _literal(names[node.id], names)
    return ast.literal_eval(node)


@functools.cache
def builtin(name: str) -> Signature | None:
    """The signature of the built-in ``name`` (functions/<name>.py), or None when there is none."""
    path = FUNCTIONS / f"{name}.py"
    if not name.isidentifier() or not path.is_file():
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    spec = names.get("SPEC")
    if not (isinstance(spec, ast.Call) and ast.unparse(spec.func) == "FunctionSpec"):
        return None
    given = {k.arg: _literal(k.value, names) for k in spec.keywords if k.arg in FIELDS}
    return Signature(given["name"], given.get("summary", ""), tuple(given["variables"]),
                     tuple(given.get("params", ())), dict(given.get("points", {})),
                     dict(given.get("param_defaults", {})))


def of_expression(text: str) -> Signature:
    """An expression's signature: the variables it uses (x when none), its parameters (required)."""
    from backpropcli.expressions.parse import parse

    parsed = parse(text)
    return Signature(parsed.text, f"f = {parsed.text}, typed", parsed.variables or ("x",), parsed.params)
