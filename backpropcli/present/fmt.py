"""Numbers as text: the one place a float is formatted for people (tables, pictures, reports,
messages). tests/test_architecture.py fails on a float format anywhere else in the package.

JSON is not formatted here: it keeps every float at full precision (present/jsonfmt.py).
"""

from __future__ import annotations

import math


def unsigned(value: float) -> float:
    """-0.0 becomes 0.0 (adding +0.0 does exactly that): a derivation shows no "-0"."""
    return value + 0.0


def num(value: float | None, digits: int = 10) -> str:
    """A float with `digits` significant digits; nan/inf spelled out; None as "-"; never "-0"."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{unsigned(value):.{digits}g}"


def general(value: float) -> str:
    """Six significant digits, the shortest way ("2", "0.01", "1e-10"): a setting or an input."""
    return num(value, 6)


def fixed(value: float, decimals: int = 1) -> str:
    """A count of digits lost and the like: a fixed number of decimals ("13.6")."""
    return f"{unsigned(value):.{decimals}f}"


def coordinate(value: float, decimals: int = 4) -> str:
    """A position in a drawing (SVG), to `decimals` places without trailing zeros: "1.25", "3"."""
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def _float32(value: float) -> float:
    import struct

    return struct.unpack("f", struct.pack("f", value))[0]


def _tidy(text: str) -> str:
    """repr's "2.0" as "2", "1e+300" kept: a number as a person writes it."""
    mantissa, _, exponent = text.partition("e")
    if mantissa.endswith(".0"):
        mantissa = mantissa[:-2]
    return mantissa + ("e" + exponent if exponent else "")


def full(value: float | None, dtype: str = "float64") -> str:
    """The shortest text that reads back as the same number in `dtype`: every digit that
    means something (17 at most for float64, 9 for float32), none that does not."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    value = unsigned(float(value))
    if dtype == "float32" and math.isfinite(_float32(value)):
        wanted = _float32(value)
        for digits in range(1, 10):
            text = f"{value:.{digits}g}"
            if _float32(float(text)) == wanted:
                return _tidy(repr(float(text))) if "e" not in text else text
    return _tidy(repr(value))


def exact(value: float) -> str:
    """The shortest text that reads back as the same float (repr)."""
    return repr(value)


def error(value: float | None) -> str:
    """An error to two significant digits; exact agreement as "0"."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return "0" if value == 0 else f"{value:.1e}"


def vector(values: list[float], digits: int, items: int) -> str:
    """The first `items` entries of a vector, e.g. "[1, 2, 3, …]"."""
    head = ", ".join(f"{unsigned(v):.{digits}g}" for v in values[:items])
    return f"[{head}{', …' if len(values) > items else ''}]"


def short(value, digits: int = 10, items: int = 4, dtype: str = "float64") -> str:
    """A number, or a vector shortened to its first few entries and its length.
    A float32 number gets float32's shortest round-trip digits (0.3, not 0.3000000119)."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return vector(value, 6, items) + (f" (n={len(value)})" if len(value) > items else "")
    if dtype == "float32":
        return full(value, dtype)
    return num(unsigned(value), digits)


def compact(value) -> str:
    """A number in six digits or a vector's first four entries in three, for a box in a picture."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return vector(value, 3, 4)
    return f"{unsigned(value):.6g}"


def fraction(value: float) -> str | None:
    """A simple fraction's text ("1/3" for 0.3333333333), or None when the value is none."""
    from fractions import Fraction

    if not math.isfinite(value):
        return None
    f = Fraction(value).limit_denominator(64)
    if f.denominator == 1 or abs(float(f) - value) > 1e-9 * max(1.0, abs(value)):
        return None
    return f"{f.numerator}/{f.denominator}"


def partial(symbol: str, node: str) -> str:
    """∂symbol/∂node, written so a derivative of a derivative reads right: ∂f/∂x by x is
    ∂²f/∂x², by y ∂²f/∂x∂y (never "∂∂f/∂x/∂x")."""
    if symbol.startswith("∂f/∂"):
        first = symbol[len("∂f/∂"):]
        return f"∂²f/∂{first}²" if node == first else f"∂²f/∂{first}∂{node}"
    return f"∂{symbol}/∂{node}"
