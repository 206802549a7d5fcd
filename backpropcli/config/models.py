"""Typed configs: defaults live here once; YAML overrides what it names; CLI flags override YAML.

Every model forbids unknown keys and coerces nothing (a quoted "0.01" is not a
number). Errors name the file, the dotted key and what was expected.
"""

from __future__ import annotations

import math
import os
import sys
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model, model_validator

from backpropcli.config.defaults import REGRESS as R
from backpropcli.errors import ConfigError, InputError
from backpropcli.io.files import read_capped

Dtype = Literal["float32", "float64"]
Device = Literal["cpu", "cuda", "auto"]

MAX_POINTS = 1_000_000
MAX_CONFIG_BYTES = 1_000_000


def parse_points(value: Any) -> list[float]:
    """Points from a number, a list of numbers, "1,2,3", or an inclusive range "start:stop:count"."""
    if isinstance(value, bool):
        raise ValueError("expected a number, a list, or start:stop:count")
    if isinstance(value, (int, float)):
        points = [float(value)]
    elif isinstance(value, list):
        if not value:
            raise ValueError("expected at least one point")
        text = next((v for v in value if isinstance(v, str)), None)
        if text is not None:
            raise ValueError(f"expected a list of numbers, got the text {text!r} in it "
                             "(a range start:stop:count stands alone, not inside a list)")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError("expected a list of numbers")
        points = [float(v) for v in value]
    elif isinstance(value, str):
        points = _parse_point_text(value.strip())
    else:
        raise ValueError("expected a number, a list, or start:stop:count")
    if not all(math.isfinite(p) for p in points):
        raise ValueError("points must be finite numbers")
    return points


def _number(text: str) -> float:
    if not text.strip():
        raise ValueError("empty entry in the list of points")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text.strip()!r} is not a finite number")
    if number == 0 and re.search(r"[1-9]", re.split(r"[eE]", text)[0]):
        raise ValueError(f"{text.strip()!r} underflows to 0 (smallest float64 is 5e-324)")
    return number


def _parse_point_text(text: str) -> list[float]:
    if not text:
        raise ValueError("expected a number, a comma list, or start:stop:count")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"range {text!r} must be start:stop:count")
        start, stop = _number(parts[0]), _number(parts[1])
        try:
            count = int(parts[2])
        except ValueError:
            raise ValueError(f"range count {parts[2]!r} is not a whole number") from None
        if not 1 <= count <= MAX_POINTS:
            raise ValueError(f"range count must be between 1 and {MAX_POINTS}, got {count}")
        if count == 1:
            return [start]
        step = (stop - start) / (count - 1)
        if not math.isfinite(step):
            raise ValueError(f"range {text!r} is too wide")
        # start + i*step, with the last point exactly stop
        return [start + i * step for i in range(count - 1)] + [stop]
    items = text.split(",")
    if len(items) > MAX_POINTS:
        raise ValueError(f"at most {MAX_POINTS} points")
    return [_number(item) for item in items]


Points = Annotated[list[float], BeforeValidator(parse_points)]


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
                    raise ValueError(f"{key} = {v:g} does not fit in float32 (largest {FLOAT32_MAX:.3g}); "
                                     "use dtype float64")
        return self


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


class DoctorConfig(_Model):
    """`backprop check`: the user's Function, its points and params, and an optional reference."""

    target: str | None = Field(None, description="path/to/file.py:Name or package.module:Name")
    x: Points | None = Field(None, description="points for the first tensor input")
    y: Points | None = Field(None, description="points for the second tensor input, if any")
    a: float | None = Field(None, description="passed to the target by name when its forward takes a")
    b: float | None = Field(None, description="likewise b")
    c: float | None = Field(None, description="likewise c")
    reference: str | None = Field(None, description="a registered function's name or an expression")
    dtype: Dtype = "float64"
    timeout: float = Field(60.0, gt=0, description="seconds the user's code may run while importing, "
                           "and again while checking, before check stops it")


def function_model(spec) -> type[_Model]:
    """The config model of one function, generated from its registry entry (cached per spec):
    `function`, one Points field per variable, one float per parameter (required where the
    spec gives no default, as for an expression's a, b, c) and `dtype`."""
    cached = _FUNCTION_MODELS.get(spec.name)
    if cached is not None and cached[0] is spec:
        return cached[1]
    fields: dict[str, Any] = {"function": (Literal[spec.name], spec.name)}  # type: ignore[valid-type]
    for name in spec.variables:
        fields[name] = (Points, list(spec.points[name])) if name in spec.points else (Points, ...)
    for name in spec.params:
        fields[name] = (float, spec.param_defaults[name]) if name in spec.param_defaults else (float, ...)
    fields["dtype"] = (Dtype, "float64")
    model = create_model(f"{spec.name.capitalize()}Config", __base__=_Model, __doc__=spec.summary, **fields)
    _FUNCTION_MODELS[spec.name] = (spec, model)
    return model


_FUNCTION_MODELS: dict[str, tuple[Any, type[_Model]]] = {}


# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution). PyYAML implements YAML 1.1,
# where 1:5:9 is the sexagesimal int 3909, 010 and 0100 are octal (8, 64), 1_000 is 1000, yes/no/on/off
# are booleans and 1e-3 is a string; in 1.2 the first ones are plain strings (so 1:5:9 reaches the same
# range parser as --x 1:5:9 on the command line), 010 is ten and 1e-3 a float.
_CORE_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_CORE_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                         r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_CORE_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_CORE_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")


def _core_schema(yaml, loader) -> None:
    """Make ``loader`` resolve and construct plain scalars as YAML 1.2's core schema does."""
    tags = {f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "null", "timestamp")}
    loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in tags]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver("tag:yaml.org,2002:bool", _CORE_BOOL, list("tTfF"))
    loader.add_implicit_resolver("tag:yaml.org,2002:int", _CORE_INT, list("-+0123456789"))
    loader.add_implicit_resolver("tag:yaml.org,2002:float", _CORE_FLOAT, list("-+.0123456789"))
    loader.add_implicit_resolver("tag:yaml.org,2002:null", _CORE_NULL, ["~", "n", "N", ""])

    def construct_int(self, node):
        text = self.construct_scalar(node)
        if not _CORE_INT.match(text):
            raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a YAML 1.2 integer",
                                                    node.start_mark)
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)  # leading zeros are decimal: 0100 is one hundred

    def construct_float(self, node):
        text = self.construct_scalar(node)
        if not _CORE_FLOAT.match(text):
            raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a YAML 1.2 float",
                                                    node.start_mark)
        lowered = text.lower()
        if lowered.endswith(".inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        return math.nan if lowered == ".nan" else float(text)

    def construct_bool(self, node):
        return self.construct_scalar(node).lower() == "true"

    loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    loader.add_constructor("tag:yaml.org,2002:float", construct_float)
    loader.add_constructor("tag:yaml.org,2002:bool", construct_bool)


class _UniqueKeyLoader:
    """Built on first use, so that importing this module does not import yaml."""

    _cls = None

    @classmethod
    def get(cls):
        if cls._cls is None:
            import yaml

            class Loader(yaml.SafeLoader):
                def compose_node(self, parent, index):
                    # Anchors and aliases are never needed in a config, and they make
                    # "billion laughs" documents possible: refuse them outright.
                    if self.check_event(yaml.AliasEvent):
                        event = self.peek_event()
                        raise yaml.MarkedYAMLError(
                            None, None, "aliases (*name) are not allowed in a config", event.start_mark
                        )
                    return super().compose_node(parent, index)

                def construct_mapping(self, node, deep=False):
                    seen = set()
                    for key_node, _ in node.value:
                        if not isinstance(key_node, yaml.ScalarNode):  # ? [a, b] or {x: 1}: 2
                            raise yaml.MarkedYAMLError(
                                None, None, "a key must be a plain name, not a list or mapping", key_node.start_mark
                            )
                        key = self.construct_object(key_node, deep=deep)
                        if key in seen:
                            raise yaml.MarkedYAMLError(
                                None, None, f"duplicate key {key!r}", key_node.start_mark
                            )
                        seen.add(key)
                    return super().construct_mapping(node, deep=deep)

            _core_schema(yaml, Loader)
            cls._cls = Loader
        return cls._cls


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping with safe loading only; ConfigError on anything else."""
    import yaml

    source = Path(path)
    try:
        if source.is_dir():
            raise ConfigError(f"{source}: is a folder, not a config file")
        raw = read_capped(source, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except OverflowError:
        raise ConfigError(f"{source}: config file is larger than {MAX_CONFIG_BYTES} bytes") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not a UTF-8 text file") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader.get())  # a SafeLoader: no python tags
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: YAML nested too deeply") from None
    except ValueError as exc:  # int(): a number of more than 4300 digits
        raise ConfigError(f"{source}: invalid YAML: {str(exc).split(';')[0]}") from None
    _refuse_huge_integers(data, source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def _refuse_huge_integers(data: Any, source: Path, key: str = "") -> None:
    """An integer beyond float64's range (a 400-digit one) has no use in a config, and
    float() of it raises OverflowError: refuse it naming the key."""
    if isinstance(data, bool):
        return
    if isinstance(data, int) and abs(data) > 2**1023:
        raise ConfigError(f"{source}: key '{key or '(top level)'}': integer of {len(str(abs(data)))} digits "
                          "is too large (beyond float64's range, about 1.8e308)")
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for name, value in items:
        _refuse_huge_integers(value, source, f"{key}.{name}" if key else str(name))


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

    An option the function does not take (--y for a function of x) is a usage
    error that says which options it does take.
    """
    data = read_yaml(config_path) if config_path else {}
    name = function or data.get("function")
    if isinstance(name, str):
        # refuse hostile text and unknown bare words before torch and sympy load
        from backpropcli.expressions.parse import parse, refuse_bare_name

        if not name.strip().isidentifier():
            parse(name)  # not a registered name, so an expression
        elif "backpropcli.functions" not in sys.modules:  # nothing registered beyond the built-ins yet
            refuse_bare_name(name.strip())
    from backpropcli import functions  # imports torch: only once a function is asked for

    known = ", ".join(functions.REGISTRY)
    if function is None and name is not None and not isinstance(name, str):
        raise ConfigError(f"{config_path}: key 'function': expected one of {known}, got {_short(name)}")
    if name is None and config_path and set(data) & {"lr", "iters", "w0", "b0", "zero_grad", "log_every"}:
        raise ConfigError(f"{config_path} is a config for 'backprop regress' (it sets lr, iters, ... and names "
                          f"no function); e.g. 'backprop regress --config {config_path}'")
    if name is None:
        raise InputError(f"which function? give one of {known}, e.g. 'backprop grad {next(iter(functions.REGISTRY))}'")
    given = {k: v for k, v in given.items() if v is not None}
    from backpropcli.errors import BackpropError

    try:
        spec = functions.resolve(name, {p: given.get(p, data.get(p)) for p in ("a", "b", "c")})
    except BackpropError as exc:
        if function is not None:
            raise
        raise ConfigError(f"{config_path}: key 'function': {exc}") from None  # `function: Sinc`: which file, which key
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
    data["function"] = spec.name  # an expression's normalised text
    return resolve(model, data, given, config_path)
