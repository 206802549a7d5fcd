"""Strict YAML: safe loading only, YAML 1.2's core schema for numbers, no aliases, no duplicate
or complex keys, a size cap. Errors name the file, the line and what is wrong."""

from __future__ import annotations

import math
import os
import re
import stat
from pathlib import Path
from typing import Any

from backpropcli.errors import ConfigError
from backpropcli.io.files import read_capped

MAX_CONFIG_BYTES = 1_000_000

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
        # opening a named pipe waits for a writer, possibly forever: refuse it before opening
        if stat.S_ISFIFO(source.stat().st_mode) or stat.S_ISSOCK(source.stat().st_mode):
            raise ConfigError(f"{source}: is a named pipe or socket, not a config file; give a regular file")
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
