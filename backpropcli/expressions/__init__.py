"""Any function the user types, as a FunctionSpec.

    spec = compile("x*sin(x)", {})
    spec.reference({"x": 2.0}, {}, 1)          # 50-digit truth, rounded to float
    spec.expression.derivatives(1)             # {"df/dx": "x*cos(x) + sin(x)"}
    spec.expression.precision({"x": [1e-5]}, {})  # digits lost and the worst node, per point

The pipeline: parse.py (whitelisted AST, never eval) -> our tree -> graph.py (torch
ops, nodes v1...vn) and symbolic.py (sympy from the tree, derivatives, mpmath truth)
-> precision.py (where the graph loses digits); compiled.py builds the FunctionSpec.

Importing this package imports nothing heavy: `parse` alone refuses hostile text
in milliseconds, before torch or sympy load; `compile` and the rest load on first use.
"""

from __future__ import annotations

__all__ = ["TOLERANCE", "Expression", "ExpressionSpec", "compile"]


def __getattr__(name: str):
    if name in __all__:
        from backpropcli.expressions import compiled

        return getattr(compiled, name)
    raise AttributeError(f"module 'backpropcli.expressions' has no attribute {name!r}")
