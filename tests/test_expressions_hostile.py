"""Hostile expressions: every one is refused with one InputError line, quickly, and nothing runs."""

from __future__ import annotations

import math
import time

import pytest

from backpropcli.errors import InputError
from backpropcli.expressions import compile as compile_expr

HOSTILE = [
    "__import__('os').system('touch /tmp/backprop-pwned')",
    "__import__",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "x.real",
    "[x][0]",
    "x[0]",
    "lambda: 1",
    "(lambda x: x)(x)",
    "[x for x in range(9)]",
    "{x: 1}",
    "'x'",
    "b'x'",
    "f'{x}'",
    "x < 1",
    "x and y",
    "not x",
    "x if y else a",
    "(x := 1)",
    "sin(x=1)",
    "sin(*x)",
    "sin(x, y)",
    "sin()",
    "sin",
    "foo(x)",
    "eval('1')",
    "exec('1')",
    "open('/etc/passwd')",
    "z",
    "1j",
    "True",
    "None",
    "...",
    "x // 2",
    "x % 2",
    "x @ y",
    "x << 2",
    "x | y",
    "~x",
    "x; y",
    "x\ny",
    "import os",
    "x = 1",
    "9**9**9**9",
    "9**9**9",
    "x**99999999",
    "x**-99999999",
    "2**10000",
    "10.0**400",
    "1e400",
    "0.5**2000",
    "1/0",
    "exp(1000)",
    "log(0)",
    "x" + "+x" * 300,
    "x" * 600,
    "(" * 300 + "x" + ")" * 300,
    "-" * 400 + "x",
    "sin(" * 60 + "x" + ")" * 60,
    "1" * 5000,
    "",
    "   ",
    "x +",
    "sin(x))",
    "π*x",
    "x\\",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_refused_quickly_with_one_line(text, tmp_path):
    start = time.perf_counter()
    with pytest.raises(InputError) as info:
        compile_expr(text, {"a": 1.0, "b": 1.0, "c": 1.0})
    assert time.perf_counter() - start < 5  # the contract is < 1 s; generous on a shared machine
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message


def test_nothing_was_executed():
    import os

    assert not os.path.exists("/tmp/backprop-pwned")


def test_messages_name_the_limit_or_construct():
    def msg(text):
        with pytest.raises(InputError) as info:
            compile_expr(text, {})
        return str(info.value)

    assert "unknown function 'sinn'" in msg("sinn(x)") and "did you mean 'sin'" in msg("sinn(x)")
    assert "known: sin cos tan" in msg("foo(x)")
    assert "attribute access" in msg("().__class__")
    assert "subscripts" in msg("x[0]")
    assert "limit 500" in msg("x" * 600)
    assert "limit 1000" in msg("x**99999999")
    assert "exponent" in msg("9**9**9**9")
    assert "keyword" in msg("sin(x=1)")
    assert "comparisons" in msg("x < 1")
    assert "nested too deeply (limit 12)" in msg("sin(" * 60 + "x" + ")" * 60)
    assert "too deeply nested (limit 100" in msg("-" * 150 + "x")
    assert "more than 200 nodes" in msg("*".join(["(x+x+x+x+x)"] * 25))


def test_allowed_edge_cases_are_accepted():
    for text in ["x**1000", "2**x", "x^-3", "+x", "1e300*x", "pi*e*x", "(1 - 1)*x", "x**0.5",
                 "(" * 50 + "x" + ")" * 50]:  # parentheses alone add no depth
        compile_expr(text, {})


def test_size_limits_for_costly_but_valid_expressions():
    with pytest.raises(InputError, match="nested too deeply"):
        compile_expr("sin(" * 13 + "x" + ")" * 13, {})
    product = compile_expr("*".join(f"sin(x + {i})" for i in range(40)), {})
    assert math.isfinite(product.reference({"x": 0.5}, {}, 1).gradient["x"])  # first order: fine
    start = time.perf_counter()
    with pytest.raises(InputError, match="second derivatives .* too large"):
        product.reference({"x": 0.5}, {}, 2)
    assert time.perf_counter() - start < 5


def test_astronomical_intermediates_do_not_hang():
    spec = compile_expr("exp(" * 8 + "x" + ")" * 8, {})
    start = time.perf_counter()
    ref = spec.reference({"x": 0.5}, {}, 1)
    assert math.isnan(ref.gradient["x"]) or math.isinf(ref.gradient["x"])
    assert time.perf_counter() - start < 5
