"""Typed configs: defaults live here once; YAML overrides what it names; CLI flags override YAML.

Every model forbids unknown keys and coerces nothing (a quoted "0.01" is not a
number). Errors name the file, the dotted key and what was expected.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from backpropcli.config.defaults import REGRESS
from backpropcli.config.points import Points
from backpropcli.config.yaml12 import read_yaml
from backpropcli.errors import ConfigError, InputError
from backpropcli.present.fmt import general, num

Dtype = Literal["float32", "float64"]
CheckDtype = Literal["float64", "float32", "bfloat16", "float16"]  # check's custom gradient may be low precision
Device = Literal["cpu", "cuda", "auto"]



FLOAT32_MAX = 3.4028234663852886e38


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    @model_validator(mode="after")
    def _fits_dtype(self):
        """A number beyond float32's range would silently become inf in a float32 run."""
        if getattr(self, "dtype", None) != "float32":
            return self
        for key, value in self:
            if key == "tol":  # a tolerance never becomes a tensor
                continue
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, float) and abs(v) > FLOAT32_MAX:
                    raise ValueError(f"{key} = {general(v)} does not fit in float32 (largest {num(FLOAT32_MAX, 3)}); "
                                     "use dtype float64")
        return self


R: dict[str, Any] = REGRESS  # values of several types: each field says its own


class RegressConfig(_Model):
    """Part A of the report: y_hat = W*x + b fitted by plain gradient descent on the MSE."""

    x: list[float] = Field(R["x"], description="inputs of the data set")
    y: list[float] = Field(R["y"], description="targets")
    data: str | None = Field(R["data"], description="CSV file with header x,y; replaces x and y")
    w0: float = Field(R["w0"], description="initial weight W")
    b0: float = Field(R["b0"], description="initial bias b")
    lr: float = Field(R["lr"], gt=0, description="learning rate")
    iters: int = Field(R["iters"], ge=1, le=100_000_000, description="gradient-descent iterations")
    dtype: Dtype = R["dtype"]
    device: Device = R["device"]
    zero_grad: bool = Field(R["zero_grad"], description="zero the grads after each update, as the report does")
    tol: float = Field(R["tol"], gt=0, description="converged when |(W,b) - optimum| <= tol * max(1, |optimum|)")
    log_every: int = Field(R["log_every"], ge=0, description="print the loss every N iterations (0: never)")


class CheckConfig(_Model):
    """`backprop check`: the user's Function, its points and params, and an optional reference."""

    target: str | None = Field(None, description="path/to/file.py:Name or package.module:Name")
    x: Points | None = Field(None, description="points for the first tensor input")
    y: Points | None = Field(None, description="points for the second tensor input, if any")
    a: float | None = Field(None, description="passed to the target by name when its forward takes a")
    b: float | None = Field(None, description="likewise b")
    c: float | None = Field(None, description="likewise c")
    inputs: str | None = Field(None, description="FILE.py:make_inputs or package.module:make_inputs: a function "
                               "returning the Function's arguments (a tuple, or a dict of keyword arguments)")
    reference: str | None = Field(None, description="FILE.py:fn, a plain-torch implementation with the Function's "
                                  "signature; with --x, also a registered function's name or an expression")
    dtype: CheckDtype = "float64"
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="where the Function runs")
    compile: bool = Field(False, description="also check torch.compile of the Function")
    timeout: float = Field(60.0, gt=0, description="seconds the user's code may run while importing, "
                           "and again while checking, before check stops it")


def function_model(spec) -> type[_Model]:
    """The config model of one function, generated from its registry entry (cached per spec):
    `function`, one Points field per variable, one float per parameter (required where the
    spec gives no default, as for an expression's a, b, c) and `dtype`."""
    cached = _FUNCTION_MODELS.get(spec.name)
    if cached is not None and cached[0] is spec:
        return cached[1]
    fields: dict[str, Any] = {"function": (Literal[spec.name], spec.name)}
    for name in spec.variables:
        fields[name] = (Points, list(spec.points[name])) if name in spec.points else (Points, ...)
    for name in spec.params:
        fields[name] = (float, spec.param_defaults[name]) if name in spec.param_defaults else (float, ...)
    fields["dtype"] = (Dtype, "float64")
    model = create_model(f"{spec.name.capitalize()}Config", __base__=_Model, __doc__=spec.summary, **fields)
    _FUNCTION_MODELS[spec.name] = (spec, model)
    return model


_FUNCTION_MODELS: dict[str, tuple[Any, type[_Model]]] = {}


def option_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def resolve(
    model: type[_Model],
    file_data: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    source: str | os.PathLike | None = None,
) -> Any:
    """Defaults < file < CLI. ``overrides`` holds CLI values; None means "not given"."""
    file_data = dict(file_data or {})
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    merged = {**file_data, **given}
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        raise _explain(exc, model, given, source) from None
    except RecursionError:
        raise ConfigError(f"{source}: config nested too deeply") from None


_EXPECTED = {
    "float_type": "expected a number",
    "int_type": "expected a whole number",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "finite_number": "expected a finite number",
}


def _explain(exc: ValidationError, model: type[_Model], given: dict, source) -> Exception:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) or "(top level)"
    kind = error["type"]
    got = error.get("input")
    if kind == "extra_forbidden":
        known = ", ".join(model.model_fields)
        what = f"unknown key (known keys: {known})"
    elif kind == "value_error":
        what = str(error.get("ctx", {}).get("error", error["msg"]))
        got = None  # the message already quotes what was wrong
    else:
        what = _EXPECTED.get(kind, error["msg"][0].lower() + error["msg"][1:])
    shown = "" if got is None or kind == "extra_forbidden" or isinstance(got, (dict, list)) else f", got {_short(got)}"
    if not loc:  # a check across keys
        return InputError(what) if given else ConfigError(f"{source}: {what}" if source else what)
    if loc[0] in given:
        return InputError(f"option {option_name(loc[0])}: {what}{shown}")
    where = f"{source}: " if source else ""
    return ConfigError(f"{where}key '{key}': {what}{shown}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def load(
    model: type[_Model],
    config_path: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
) -> Any:
    """Read ``config_path`` (if any) and resolve it with ``overrides`` against ``model``."""
    data = read_yaml(config_path) if config_path else {}
    if config_path and "function" in data and "function" not in model.model_fields:
        raise ConfigError(f"{config_path} is a config for 'backprop grad' or 'backprop hessian' (it names a "
                          f"function), not for this command; e.g. 'backprop grad --config {config_path}'")
    if config_path and isinstance(data.get("data"), str) and not os.path.isabs(data["data"]):
        # a data file named in a config is found relative to the config, not the cwd
        data["data"] = str(Path(config_path).parent / data["data"])
    return resolve(model, data, overrides, config_path)


def load_function(function: str | None, config_path: str | os.PathLike | None, given: dict[str, Any]) -> Any:
    """Pick the function (argument, else the file's `function:`) and resolve its config.

    Usage errors (a bad point, an option the function does not take, a wrong type in the file)
    are found from the function's light signature before torch loads; then the registry (or the
    expression's compiler) gives the spec the run uses.
    """
    data = read_yaml(config_path) if config_path else {}
    name = function or data.get("function")
    given = {k: v for k, v in given.items() if v is not None}
    if isinstance(name, str) and "backpropcli.functions" not in sys.modules:
        try:
            light = _signature(name)
        except InputError as exc:
            if function is not None:
                raise
            raise ConfigError(f"{config_path}: key 'function': {exc}") from None
        if light is not None:
            _validate(light, name, data, given, config_path)
    from backpropcli import functions  # imports torch: only once a function is asked for

    known = ", ".join(functions.REGISTRY)
    if function is None and name is not None and not isinstance(name, str):
        raise ConfigError(f"{config_path}: key 'function': expected one of {known}, got {_short(name)}")
    if name is None and config_path and set(data) & {"lr", "iters", "w0", "b0", "zero_grad", "log_every"}:
        raise ConfigError(f"{config_path} is a config for 'backprop regress' (it sets lr, iters, ... and names "
                          f"no function); e.g. 'backprop regress --config {config_path}'")
    if name is None:
        raise InputError(f"which function? give one of {known}, e.g. 'backprop grad {next(iter(functions.REGISTRY))}'")
    from backpropcli.errors import BackpropError

    try:
        spec = functions.resolve(name, {p: given.get(p, data.get(p)) for p in ("a", "b", "c")})
    except BackpropError as exc:
        if function is not None:
            raise
        raise ConfigError(f"{config_path}: key 'function': {exc}") from None  # `function: Sinc`: which file, which key
    data["function"] = spec.name  # an expression's normalised text
    return _validate(spec, name, data, given, config_path)


def _signature(name: str):
    """The light signature of a built-in or an expression (refusing hostile text and unknown bare
    words on the way); None for a name only the registry can know (one registered at run time)."""
    from backpropcli.config import signatures
    from backpropcli.expressions.parse import refuse_bare_name

    if not name.strip().isidentifier():
        return signatures.of_expression(name)  # not a registered name, so an expression
    refuse_bare_name(name.strip())
    return signatures.builtin(name.strip()) or (signatures.of_expression(name) if name.strip() in
                                                ("x", "y", "a", "b", "c", "pi", "e") else None)


def _validate(spec, name: str, data: dict, given: dict, config_path) -> Any:
    """The options and file keys against the function's model: what it does not take, a variable
    or parameter it needs and was not given, then every value's type (the points syntax too)."""
    model = function_model(spec)
    extra = [k for k in given if k not in model.model_fields]
    if extra:
        takes = " ".join(option_name(k) for k in model.model_fields if k not in ("function", "dtype"))
        raise InputError(f"{name} does not take {option_name(extra[0])} (it takes {takes})")
    missing = [v for v in spec.variables if v in model.model_fields and model.model_fields[v].is_required()
               and v not in given and v not in data]
    if missing:
        v = missing[0]
        where = " or the config" if config_path else ""
        raise InputError(f"variable {v} used in {spec.name!r} but not given ({option_name(v)}{where})")
    unset = [p for p in spec.params if p not in spec.param_defaults and given.get(p, data.get(p)) is None]
    if unset:
        flags = ", ".join(f"--{p}" for p in unset)
        raise InputError(f"parameter{'s' if len(unset) > 1 else ''} {', '.join(unset)} used in "
                         f"{spec.name!r} but not given ({flags} or the config)")
    return resolve(model, {**data, "function": spec.name}, given, config_path)
