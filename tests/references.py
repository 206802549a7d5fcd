"""Independent references for the tests, written here and not taken from the package:
mpmath's numerical differentiation of its own sinc at high precision, softplus
closed forms arranged differently from the package's, and exact rationals for quad."""

from fractions import Fraction

import mpmath


def _extra_digits(x: float) -> int:
    # near 0 the derivatives of sin(x)/x are tiny next to the function: carry more digits
    return 0 if x == 0 or abs(x) >= 1 else int(-3 * mpmath.log10(abs(x))) + 10


def sinc(x: float, n: int) -> float:
    """n-th derivative of sin(x)/x by mpmath.diff on mpmath.sinc (unnormalised, sinc(0) = 1)."""
    with mpmath.workdps(40 + _extra_digits(x)):
        return float(mpmath.diff(mpmath.sinc, mpmath.mpf(x), n))


def softplus(x: float, n: int) -> float:
    with mpmath.workdps(50):
        t = mpmath.mpf(x)
        if n == 0:
            return float(mpmath.log1p(mpmath.exp(t)))
        if n == 1:
            return float(1 / (1 + mpmath.exp(-t)))
        return float(mpmath.exp(t) / (1 + mpmath.exp(t)) ** 2)


def quad_exact(x, y, a, b, c):
    """Value, gradient in (x, y, a, b, c) and the size of the cancelling terms, exactly."""
    x, y, a, b, c = map(Fraction, (x, y, a, b, c))
    value = a * x * x + b * x * y + c * y * y
    grads = {"x": 2 * a * x + b * y, "y": b * x + 2 * c * y, "a": x * x, "b": x * y, "c": y * y}
    scales = {"value": abs(a * x * x) + abs(b * x * y) + abs(c * y * y),
              "x": abs(2 * a * x) + abs(b * y), "y": abs(b * x) + abs(2 * c * y),
              "a": x * x, "b": abs(x * y), "c": y * y}
    return value, grads, scales


def softplus_third(x: float) -> float:
    """f''' of ln(1 + e^x), by mpmath's numerical differentiation of its closed form."""
    with mpmath.workdps(40):
        return float(mpmath.diff(lambda t: mpmath.log1p(mpmath.exp(t)), mpmath.mpf(x), 3))
