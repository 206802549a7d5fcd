"""backprop: make backpropagation visible and checkable.

The public Python API (everything else in the package is private)::

    import backpropcli

    backpropcli.check_function(MyLinear, make_inputs)     # a Function's diagnosis (backprop check)
    backpropcli.assert_gradients(MyLinear, make_inputs)   # the same, raising GradientCheckError
    backpropcli.check_manual("my_mlp.py")                  # a hand-written backward (backprop manual)
    backpropcli.grad("x*sin(x)", x=2.0)                    # backprop grad
    backpropcli.hessian("log(1 + exp(x))", x=0.5)          # backprop hessian
    backpropcli.regress(lr=0.1, iters=2000)                # backprop regress

The names are loaded on first use, so ``import backpropcli`` stays cheap (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it; importing the package imports none of them
_PUBLIC = {
    "check_function": "backpropcli.api",
    "assert_gradients": "backpropcli.api",
    "check_manual": "backpropcli.api",
    "grad": "backpropcli.api",
    "hessian": "backpropcli.api",
    "regress": "backpropcli.api",
    "GradientCheckError": "backpropcli.errors",
}
__all__ = ["GradientCheckError", "__version__", "assert_gradients", "check_function", "check_manual", "grad",
           "hessian", "regress"]

if TYPE_CHECKING:
    from backpropcli.api import assert_gradients, check_function, check_manual, grad, hessian, regress
    from backpropcli.errors import GradientCheckError


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'backpropcli' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
