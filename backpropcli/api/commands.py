"""The commands as functions: the same engine and request as each command, a result from
backpropcli.api.results. Nothing is printed; a usage problem raises what the command exits 2 on
(backpropcli.errors.UsageProblem)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backpropcli.api.results import Check, Derivatives, Manual, Regression


def _points(value: Any) -> Any:
    """A point, a sequence of points (list, tuple, numpy array, 1-D tensor) or the text "0:1:11"."""
    if isinstance(value, (str, int, float)) or value is None:
        return value
    if hasattr(value, "tolist"):  # an array or a tensor
        value = value.tolist()
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else value


def _given(values: dict[str, Any], params: Sequence[str]) -> dict[str, Any]:
    """Keyword arguments as the config takes them: a parameter is a float, a variable points."""
    return {k: (float(v) if k in params and isinstance(v, int) and not isinstance(v, bool) else _points(v))
            for k, v in values.items()}


def _derivatives(order: int, function: str | None, values: dict, *, dtype: str | None, trace: bool,
                 autograd_graph: bool, plot: bool, out: str | Path, max_memory: str | None,
                 config: str | Path | None) -> Derivatives:
    from backpropcli.app import derivatives
    from backpropcli.app.views import Views
    from backpropcli.config import models as configs

    given = {**_given(values, ("a", "b", "c")), "dtype": dtype}
    cfg = configs.load_function(function, config, given)
    request = derivatives.DerivativeRequest(cfg, order, plot, Views(trace=trace, autograd_graph=autograd_graph),
                                            Path(out), max_memory)
    return Derivatives(derivatives.derivatives(request))


def grad(function: str | None = None, *, dtype: str | None = None, trace: bool = False,
         autograd_graph: bool = False, plot: bool = False, out: str | Path = "outputs",
         max_memory: str | None = None, config: str | Path | None = None, **values: Any) -> Derivatives:
    """Check a gradient, as ``backprop grad`` does: ``function`` is a registered name (``backprop
    grad --help`` lists them) or an expression ("x*sin(x)"); ``values`` give the points and
    parameters, e.g. ``grad("a*x**2 + b*x*y", x=1, y=1, a=1, b=2)`` or ``grad("x*sin(x)",
    x=[0, 1, 2])`` (a number, a sequence, or the text "start:stop:count").

    ``trace=True`` keeps the chain rule at the first point (``.trace``); ``autograd_graph=True``
    PyTorch's backward graph; ``plot=True`` writes the figure into ``out``. Raises
    ``backpropcli.errors.UsageProblem`` for what the command exits 2 on."""
    return _derivatives(1, function, values, dtype=dtype, trace=trace, autograd_graph=autograd_graph, plot=plot,
                        out=out, max_memory=max_memory, config=config)


def hessian(function: str | None = None, *, dtype: str | None = None, trace: bool = False,
            autograd_graph: bool = False, plot: bool = False, out: str | Path = "outputs",
            max_memory: str | None = None, config: str | Path | None = None, **values: Any) -> Derivatives:
    """Check second derivatives, as ``backprop hessian`` does (reverse over reverse through the
    custom backward): the same arguments as `grad`, e.g. ``hessian("log(1 + exp(x))", x=0.5)``."""
    return _derivatives(2, function, values, dtype=dtype, trace=trace, autograd_graph=autograd_graph, plot=plot,
                        out=out, max_memory=max_memory, config=config)


# ---- regress --------------------------------------------------------------------------------------


def regress(*, lr: float | None = None, iters: int | None = None, w0: float | None = None,
            b0: float | None = None, x: Sequence[float] | None = None, y: Sequence[float] | None = None,
            data: str | Path | None = None, dtype: str | None = None, device: str | None = None,
            tol: float | None = None, zero_grad: bool | None = None, trace: bool = False,
            autograd_graph: bool = False, plot: bool = False, out: str | Path = "outputs",
            max_memory: str | None = None, config: str | Path | None = None) -> Regression:
    """Fit y = W*x + b by plain gradient descent, as ``backprop regress`` does: every argument
    left None takes the command's default (the report's data, lr 0.01, 100 steps), e.g.
    ``regress(lr=0.1, iters=2000).converged``. ``x``/``y`` or a CSV ``data`` file replace the data."""
    from backpropcli.app import regress as regressions
    from backpropcli.app.views import Views
    from backpropcli.config import models as configs

    cfg = configs.load(configs.RegressConfig, config, {
        "lr": None if lr is None else float(lr), "iters": iters, "w0": None if w0 is None else float(w0),
        "b0": None if b0 is None else float(b0), "x": _points(x), "y": _points(y),
        "data": None if data is None else str(data), "dtype": dtype, "device": device,
        "tol": None if tol is None else float(tol), "zero_grad": zero_grad})
    request = regressions.RegressRequest(cfg, plot, Views(trace=trace, autograd_graph=autograd_graph), Path(out),
                                         max_memory)
    return Regression(regressions.regress(request))


# ---- check: a user's Function --------------------------------------------------------------------


def check_function(fn: Any, inputs: Any = None, *, reference: Callable | None = None, dtype: str | None = None,
                   device: str | None = None, capabilities: list[str] | None = None, compile: bool = False,
                   max_memory: str | int | None = None, name: str | None = None) -> Check:
    """Check a Function's gradients with the engine of ``backprop check``.

    ``fn`` is a ``torch.autograd.Function`` subclass (or a plain callable); ``inputs`` a tuple of
    positional arguments, a dict of keyword arguments, or a callable returning either (a
    ``make_inputs``). Floating tensors with ``requires_grad=True`` are the inputs checked; index
    tensors and Python values are passed as they are. ``reference`` is a plain-torch function
    with the same signature to compare against (default: autograd through forward's own ops);
    ``dtype`` ("float32", ...) and ``device`` run the check there; ``capabilities`` limits the
    rows probed (names as in the capability table); ``compile=True`` adds torch.compile's row;
    ``max_memory`` ("8GB", or bytes) is the memory budget, as ``--max-memory``."""
    from backpropcli import functions  # noqa: F401 - warms PyTorch's unary kernels before any large call
    from backpropcli.doctor.build import subject_of
    from backpropcli.doctor.diagnose import diagnose
    from backpropcli.io import budget

    # as --max-memory: "8GB" or bytes; None: BACKPROP_MAX_MEMORY, else 2 GB
    limit = max_memory if isinstance(max_memory, int) else budget.limit(max_memory)
    subject = subject_of(fn, inputs, name=name)
    return Check(diagnose(subject, reference=reference, dtype=dtype, device=device, capabilities=capabilities,
                          compile=compile, max_memory=limit))


def assert_gradients(fn: Any, inputs: Any = None, **options: Any) -> Check:
    """`check_function`, for a test: returns the result when no gradient is wrong, else raises
    ``backpropcli.GradientCheckError`` (an AssertionError) whose message names each wrong gradient:
    its code, the input, where, and the fix. Takes the same keyword arguments as `check_function`."""
    __tracebackhide__ = True  # pytest shows the test's line and the message, not this frame
    from backpropcli.errors import GradientCheckError

    result = check_function(fn, inputs, **options)
    if not result.ok or result.errors:
        raise GradientCheckError(result.message(), result)
    return result


# ---- manual: a hand-written backward -------------------------------------------------------------


def check_manual(forward: Any, backward: Callable | None = None, inputs: Any = None, *, plot: bool = False,
                 out: str | Path = "outputs") -> Manual:
    """Judge a hand-written backward step by step, as ``backprop manual`` does.

    Either a file's path (``check_manual("my_mlp.py")``: it defines ``inputs()``, ``forward(p)``
    and ``backward(p, cache, grads)``), or the three themselves: ``check_manual(forward, backward,
    inputs)`` with ``inputs`` the leaves by name (a dict, or a function returning one). Each
    gradient the backward writes is judged end to end and on true upstream gradients; the result
    names the first wrong step. ``plot=True`` (a file only) writes the figure into ``out``."""
    from backpropcli.app import manual as manuals

    if isinstance(forward, (str, Path)):
        return Manual(manuals.manual(manuals.ManualRequest(str(forward), plot, Path(out))))
    if backward is None or inputs is None:
        raise TypeError("check_manual(forward, backward, inputs): give all three, or a file's path")
    from backpropcli import functions  # noqa: F401 - warms PyTorch's unary kernels before any large call
    from backpropcli.doctor.manual import check_manual as judge

    return Manual(manuals.ManualRun(judge(forward, backward, inputs)))
