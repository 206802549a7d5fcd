"""The points syntax of --x/--y and a config's x: a number, a list, "1,2,3", or start:stop:count."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

MAX_POINTS = 1_000_000

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


# a plain decimal in ASCII digits, as the expression language writes numbers: float() alone would
# also read 1_000, Arabic-Indic digits (١), "infinity" and "nan"
_PLAIN = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def _number(text: str) -> float:
    if not text.strip():
        raise ValueError("empty entry in the list of points")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text.strip()!r} is not a finite number")
    if not _PLAIN.fullmatch(text.strip()):
        raise ValueError(f"{text.strip()!r} is not a number: plain decimal numbers only (e.g. 16, 1000, 0.5, 1e-3)")
    if number == 0 and re.search(r"[1-9]", re.split(r"[eE]", text)[0]):
        raise ValueError(f"{text.strip()!r} underflows to 0 (smallest float64 is 5e-324)")
    return number


def plain_number(text: str) -> float:
    """A finite plain decimal (--a/--b/--c): the language's numbers, not 1_000 or ١."""
    return _number(text)


def _parse_point_text(text: str) -> list[float]:
    if not text:
        raise ValueError("expected a number, a comma list, or start:stop:count")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"range {text!r} must be start:stop:count")
        start, stop = _number(parts[0]), _number(parts[1])
        if not re.fullmatch(r"\s*[0-9]+\s*", parts[2], re.ASCII):  # int() would read 1_0 and ٣
            raise ValueError(f"range count {parts[2]!r} is not a whole number")
        count = int(parts[2])
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
