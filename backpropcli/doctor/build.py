"""Building a Subject: the thing under test, from a loaded target and what make_inputs returned,
or from the scalar ``--x/--y`` points with ``--a/--b/--c``.

``make_inputs()`` returns a tuple of positional arguments or a dict of keyword arguments. Floating
tensors with ``requires_grad=True`` are the differentiable inputs; every other value (an int or
bool index tensor, a float tensor without grad, a Python number or string) is passed as it is.
Inputs are named by forward's parameter names (after ctx for an old-style forward); a forward
that takes ``*args`` names its extra positional inputs ``args[k]``.

The scalar form is one way of building the same Subject: x (and y) become 1-D float64 tensors of
the points that require grad, a, b, c Python floats passed by name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from backpropcli.doctor import loader
from backpropcli.doctor.subject import CtxStub, Input, Subject
from backpropcli.errors import InputError

VARIABLES = ("x", "y")  # the scalar form's tensor inputs, in order


def subject_of(obj: Any, inputs: Any, *, name: str | None = None) -> Subject:
    """A Subject from a Function subclass, a callable or a loader.Target, and its inputs: a tuple
    of positional arguments, a dict of keyword arguments, or a callable returning either."""
    target = obj if isinstance(obj, loader.Target) else loader.target_of(obj, name)
    given = inputs() if callable(inputs) else inputs
    if isinstance(given, Mapping):
        args: tuple = ()
        kwargs = dict(given)
    elif isinstance(given, (tuple, list)):
        args, kwargs = tuple(given), {}
    else:
        args, kwargs = (given,), {}  # one input given bare
    bound = _bind(target, args, kwargs)
    return _subject(target, name or target.name, bound)


def subject_from_points(target: loader.Target, points: Mapping[str, list[float]],
                        params: Mapping[str, float], *, name: str | None = None) -> Subject:
    """The scalar form: x (and y) as 1-D float64 tensors of the points, requiring grad; the params
    (a, b, c) as Python floats. Tensors go by position in forward's order, params by name."""
    import torch

    names = target.inputs
    sizes = {v: len(points[v]) for v in VARIABLES if v in points}
    n = max(sizes.values(), default=0)
    if n == 0 or any(s not in (1, n) for s in sizes.values()):
        raise InputError("the points must pair up: give equal counts or a single value")
    # a single value is repeated to pair with the other input's points
    tensors = {v: torch.tensor([float(p) for p in points[v]] * (n if sizes[v] == 1 else 1), dtype=torch.float64,
                               requires_grad=True) for v in sizes}
    if names is not None:
        unknown = [p for p in params if p not in names]
        if unknown:
            raise InputError(f"{target.name} takes ({', '.join(names)}); it has no parameter "
                             f"{', '.join(map(repr, unknown))}")
        free = [n for n in names if n not in params]
        required = target.required if target.required is not None else free
        wanted = [n for n in free if n in required] or free[:1]
        if len(wanted) != len(tensors) or list(tensors) != list(VARIABLES[:len(wanted)]):
            options = " and ".join(f"--{v}" for v in VARIABLES[:len(wanted)])
            raise InputError(f"{target.name} takes {len(wanted)} tensor input{'s' * (len(wanted) > 1)} "
                             f"({', '.join(wanted)}): give points with {options}"
                             if 0 < len(wanted) <= 2 else
                             f"{target.name} takes ({', '.join(names)}): the --x/--y form gives at most two "
                             "tensor inputs; give the inputs with --inputs FILE.py:make_inputs")
        kwargs: dict[str, Any] = dict(zip(wanted, tensors.values()))
        kwargs.update(params)
        # positional in forward's order as far as every parameter is given, the rest by name
        prefix = next((k for k, n in enumerate(names) if n not in kwargs), len(names))
        args = tuple(kwargs.pop(n) for n in names[:prefix])
        bound = _bind(target, args, kwargs)
    else:
        bound = [(f"args[{k}]", t, False) for k, t in enumerate(tensors.values())]
        bound += [(p, v, True) for p, v in params.items()]
    return _subject(target, name or target.name, bound)


def _forward_of(target: loader.Target) -> Callable[..., Any] | None:
    """forward as plain torch ops with the Function's own arguments (a stub ctx for old style)."""
    if target.kind == "function":
        return target.obj.forward
    if target.kind == "function-ctx":
        forward = target.obj.forward
        return lambda *args, **kwargs: forward(CtxStub(), *args, **kwargs)
    return None


def _signature(target: loader.Target) -> inspect.Signature | None:
    fn = target.obj.forward if target.is_function else loader.signed(target.obj)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    if target.kind == "function-ctx":
        params = list(sig.parameters.values())[1:]
        sig = sig.replace(parameters=params)
    return sig


def _bind(target: loader.Target, args: tuple, kwargs: dict) -> list[tuple[str, Any, bool]]:
    """(name, value, by keyword) for every argument given, in forward's parameter order."""
    sig = _signature(target)
    if sig is None:
        return [(f"args[{k}]", v, False) for k, v in enumerate(args)] + [(k, v, True) for k, v in kwargs.items()]
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise InputError(f"the inputs do not fit {target.name}{sig}: {e}") from None
    out: list[tuple[str, Any, bool]] = []
    for name, value in bound.arguments.items():
        kind = sig.parameters[name].kind
        if kind == inspect.Parameter.VAR_POSITIONAL:
            start = len(out)
            out += [(f"args[{k}]", v, False) for k, v in enumerate(value, start)]
        elif kind == inspect.Parameter.VAR_KEYWORD:
            out += [(k, v, True) for k, v in value.items()]
        else:
            out.append((name, value, name in kwargs))
    return out


def _subject(target: loader.Target, name: str, bound: list[tuple[str, Any, bool]]) -> Subject:
    import torch

    inputs = []
    for arg, value, keyword in bound:
        differentiable = (isinstance(value, torch.Tensor) and value.requires_grad
                          and (value.is_floating_point() or value.is_complex()))
        if isinstance(value, torch.Tensor):
            value = value.detach()
        inputs.append(Input(arg, value, differentiable, keyword))
    if target.kind == "function-ctx" and any(i.keyword for i in inputs):
        raise InputError(f"{name} has an old-style forward(ctx, ...), which takes its inputs by position: "
                         "give make_inputs as a tuple")
    if not any(i.differentiable for i in inputs):
        raise InputError(f"no input of {name} is differentiable: make_inputs must give at least one floating "
                         "tensor with requires_grad=True")
    function = target.obj if target.is_function else None
    return Subject(name, target.kind, target.apply, tuple(inputs), _forward_of(target), function)


def load_inputs(spec: str) -> Callable[[], Any]:
    """``FILE.py:make_inputs`` → the make_inputs callable (InputError when it is not callable)."""
    made = loader.load_object(spec)
    if not callable(made):
        raise InputError(f"{spec} is {type(made).__name__}, not a function returning the inputs")
    return made


def reference_from_spec(spec: Any, subject: Subject, params: Mapping[str, float]) -> Callable[..., Any]:
    """The scalar form's --reference (a built-in's name or an expression) as a plain callable with
    the Function's own arguments: per point the 50-digit value and gradient of ``spec``, through an
    autograd.Function whose backward is that gradient (a point where the reference has no truth —
    a pole, a kink — is nan, so it is not judged)."""
    import torch

    tensors = subject.differentiable
    if len(tensors) != len(spec.variables):
        raise InputError(f"the reference {spec.name!r} is a function of {', '.join(spec.variables)}; "
                         f"{subject.name} has {len(tensors)} tensor input(s)")
    positional = [i.name for i in subject.inputs if not i.keyword]
    cache: dict[tuple[float, ...], tuple[float, list[float]]] = {}

    def at(point: tuple[float, ...]) -> tuple[float, list[float]]:
        if point not in cache:
            r = spec.reference(dict(zip(spec.variables, point)), dict(params), 1)
            good = r.status == "ok"
            cache[point] = ((r.value if good else float("nan")),
                            [r.gradient[v] if good else float("nan") for v in spec.variables])
        return cache[point]

    class PointReference(torch.autograd.Function):
        @staticmethod
        def forward(*xs):
            flat = [x.detach().double().reshape(-1).tolist() for x in xs]
            rows = [at(point) for point in zip(*flat)]
            value = torch.tensor([r[0] for r in rows], dtype=torch.float64).reshape(xs[0].shape)
            grads = [torch.tensor([r[1][j] for r in rows], dtype=torch.float64).reshape(xs[0].shape)
                     for j in range(len(xs))]
            return value.to(xs[0]), *[g.to(xs[0]) for g in grads]

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.mark_non_differentiable(*output[1:])
            ctx.save_for_backward(*output[1:])

        @staticmethod
        def backward(ctx, g, *_):
            return tuple(g * d for d in ctx.saved_tensors)

    def reference(*args: Any, **kwargs: Any) -> Any:
        values = dict(zip(positional, args)) | kwargs
        return PointReference.apply(*[values[n] for n in tensors])[0]

    # its backward is the 50-digit first derivative, a constant to autograd: no second derivative
    reference.first_order_only = True  # type: ignore[attr-defined]
    return reference
