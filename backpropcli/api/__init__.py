"""The public Python API: the commands as functions, for tests and notebooks.

Each function runs the same engine as its command and returns a small result: ``.ok``,
``.findings``, ``.to_dict()`` (the command's ``--json``, without the keys that name files or
time a run) and a rich display in a notebook (``_repr_html_``: tables; pictures as PNG).
Nothing is printed. Import them from the package::

    import backpropcli
    backpropcli.grad("x*sin(x)", x=2.0).ok
    backpropcli.assert_gradients(MyLinear, make_inputs)   # raises GradientCheckError when wrong

commands.py holds the functions, results.py what they return. Importing this package imports
no torch: each function does, when it is called.
"""

from backpropcli.api.commands import assert_gradients, check_function, check_manual, grad, hessian, regress
from backpropcli.api.results import Check, Derivatives, Finding, Manual, Picture, Regression, Trace

__all__ = ["Check", "Derivatives", "Finding", "Manual", "Picture", "Regression", "Trace", "assert_gradients",
           "check_function", "check_manual", "grad", "hessian", "regress"]
