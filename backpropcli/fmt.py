"""Numbers as text: the one place a float is formatted for people (tables, pictures, reports).

JSON is not formatted here: it keeps every float at full precision (jsonify.py).
"""

from __future__ import annotations

import math


def unsigned(value: float) -> float:
    """-0.0 becomes 0.0 (adding +0.0 does exactly that): a derivation shows no "-0"."""
    return value + 0.0


def num(value: float | None, digits: int = 10) -> str:
    """A float with `digits` significant digits; nan/inf spelled out; None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def full(value: float | None) -> str:
    """Every digit a float64 holds (17 significant)."""
    return num(value, 17)


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


def short(value, digits: int = 10, items: int = 4) -> str:
    """A number, or a vector shortened to its first few entries and its length."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return vector(value, 6, items) + (f" (n={len(value)})" if len(value) > items else "")
    return num(unsigned(value), digits)


def compact(value) -> str:
    """A number in six digits or a vector in three, for a box in a picture."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return vector(value, 3, 3)
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
