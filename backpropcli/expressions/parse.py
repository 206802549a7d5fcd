"""The expression language: Python's `ast` in eval mode, walked against a whitelist.

Nothing the user types is ever evaluated as Python: the text is parsed (never
compiled or run) and every AST node is checked against the small set below;
anything else is refused with one line naming the construct. The result is a
small immutable tree of our own (`Num`, `Const`, `Var`, `Neg`, `Bin`, `Call`).

Bounds (each refusal names its limit): the text length is checked before
`ast.parse`, then the node count and the depth; a power's exponent must be a
constant no larger than MAX_EXPONENT in size, and every constant sub-expression
must stay within MAX_CONSTANT in size; so no exact big-integer arithmetic
(`9**9**9**9`) is ever started, here or later in sympy.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from dataclasses import dataclass

from backpropcli.errors import InputError
from backpropcli.present.fmt import general

MAX_LENGTH = 500  # characters
MAX_NODES = 200  # tree nodes after parsing
MAX_DEPTH = 100  # nesting of operations (a + b + c ... nests to the left)
MAX_CALLS_NESTED = 12  # f(g(h(...))): f'' of n nested calls has about n^2 factors
MAX_EXPONENT = 1000  # |n| in u**n for a constant n
MAX_CONSTANT = 1e300  # size of any constant sub-expression (and its reciprocal)

VARIABLES = ("x", "y")
PARAMS = ("a", "b", "c")
CONSTANTS = {"pi": math.pi, "e": math.e}
FUNCTIONS = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "expm1",
             "log", "log1p", "sqrt", "abs", "sigmoid", "softplus")


# ---- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: int | float  # an int only when exact and small (|n| <= 2**53)


@dataclass(frozen=True)
class Const:
    name: str  # "pi" or "e"


@dataclass(frozen=True)
class Var:
    name: str  # a variable (x, y) or a parameter (a, b, c)


@dataclass(frozen=True)
class Neg:
    arg: Expr


@dataclass(frozen=True)
class Bin:
    op: str  # "+", "-", "*", "/", "**"
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    fn: str  # one of FUNCTIONS
    arg: Expr


Expr = Num | Const | Var | Neg | Bin | Call

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
# precedence for printing with the fewest parentheses (Python's own rules)
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "**": 4}


@dataclass(frozen=True)
class Parsed:
    tree: Expr
    text: str  # normalised
    variables: tuple[str, ...]  # the variables used, in the order x, y
    params: tuple[str, ...]  # the parameters used, in the order a, b, c


# ---- parsing ----------------------------------------------------------------------------------


def parse(text: str) -> Parsed:
    """Parse ``text`` into a tree, or raise InputError with one line saying why."""
    if not isinstance(text, str):
        raise InputError("an expression must be text")
    if len(text) > MAX_LENGTH:
        raise InputError(f"expression too long: {len(text)} characters (limit {MAX_LENGTH})")
    if not text.strip():
        raise InputError("empty expression")
    if not text.isascii() or any(ch in text for ch in "\"'`\\\x00"):
        bad = next(ch for ch in text if not ch.isascii() or ch in "\"'`\\\x00")
        raise InputError(f"character {bad!r} is not allowed in an expression")
    text = text.strip()  # leading/trailing spaces and tabs are harmless
    if "\n" in text or "\r" in text:
        raise InputError("an expression is one line: remove the line break")
    if "#" in text:
        raise InputError("character '#' is not allowed in an expression (no comments)")
    literal = _NUMBER_TOKEN.search(text)
    if literal is not None:
        raise InputError(f"number {clip(literal.group())!r} is not allowed: plain decimal numbers only "
                         "(e.g. 16, 1000, 0.5, 1e-3)")
    # '^' means power, as in maths; rewriting it before parsing gives it the precedence
    # and right associativity of '**' (Python's '^' is xor, below '+')
    source = text.replace("^", "**")
    try:
        node = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise InputError(f"not a valid expression: {exc.msg} at column {exc.offset}") from None
    except (RecursionError, MemoryError, ValueError):
        raise InputError(f"expression too deeply nested (limit {MAX_DEPTH} levels)") from None
    count = sum(1 for _ in ast.walk(node))
    if count > 4 * MAX_NODES:  # a cheap first bound; the tree is counted exactly below
        raise InputError(f"expression too large: more than {MAX_NODES} nodes")
    try:
        tree = _Walker(source.strip()).convert(node.body, 0)
    except RecursionError:
        raise InputError(f"expression too deeply nested (limit {MAX_DEPTH} levels)") from None
    names = _names(tree)
    return Parsed(tree, to_text(tree), tuple(v for v in VARIABLES if v in names),
                  tuple(p for p in PARAMS if p in names))


class _Walker:
    def __init__(self, source: str | None = None) -> None:
        self.source = source  # the text parsed, to see how a number was typed
        self.nodes = 0
        self.calls = 0  # calls open around the node being converted

    def convert(self, node: ast.AST, depth: int) -> Expr:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise InputError(f"expression too large: more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise InputError(f"expression too deeply nested (limit {MAX_DEPTH} levels)")
        d = depth + 1
        if isinstance(node, ast.Constant):
            number = _number(node.value)
            if number.value == 0 and isinstance(node.value, float) and self.source is not None:
                typed = ast.get_source_segment(self.source, node) or ""
                if any(ch in "123456789" for ch in typed.lower().split("e")[0]):
                    raise InputError(f"number {clip(typed)} underflows to 0 in float64 "
                                     f"(smallest size {general(1 / MAX_CONSTANT)})")
            return number
        if isinstance(node, ast.Name):
            return _name(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            arg = self.convert(node.operand, d)
            return _checked(Neg(arg)) if isinstance(node.op, ast.USub) else arg
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.convert(node.left, d), self.convert(node.right, d)
            op = _BINOPS[type(node.op)]
            if op == "**":
                _check_exponent(right)
            if op == "/" and constant_value(right) == 0:
                raise InputError("division by zero" + ("" if isinstance(right, Num) else f": {to_text(right)} is 0"))
            return _checked(Bin(op, left, right))
        if isinstance(node, ast.Call):
            return self.call(node, d)
        raise InputError(f"{_describe(node)} is not allowed in an expression")

    def call(self, node: ast.Call, depth: int) -> Expr:
        if not isinstance(node.func, ast.Name):
            raise InputError(f"{_describe(node.func)} is not allowed in an expression (only calls like sin(x))")
        fn = node.func.id
        if fn not in FUNCTIONS:
            raise InputError(_unknown_function(fn))
        if node.keywords:
            raise InputError(f"keyword arguments are not allowed: {fn}() takes one positional argument")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise InputError(f"starred arguments are not allowed: {fn}() takes one argument, e.g. {fn}(x)")
        if len(node.args) != 1:
            raise InputError(f"{fn}() takes exactly one argument ({len(node.args)} given)")
        self.calls += 1
        if self.calls > MAX_CALLS_NESTED:
            raise InputError(f"function calls nested too deeply (limit {MAX_CALLS_NESTED})")
        arg = self.convert(node.args[0], depth)
        self.calls -= 1
        return _checked(Call(fn, arg))


def _number(value) -> Num:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = {str: "a string", bytes: "bytes", complex: "a complex number"}.get(type(value), repr(value))
        raise InputError(f"{kind} is not allowed in an expression (only real numbers)")
    if isinstance(value, int) and abs(value) > 2**53:
        value = float(value)  # inexact from here on: no big-integer arithmetic downstream
    if not math.isfinite(value) or abs(value) > MAX_CONSTANT:
        raise InputError(f"number too large: {general(value)} (limit {general(MAX_CONSTANT)})")
    return Num(value)


# hexadecimal, octal, binary and digit-grouped numbers: Python reads them, maths text does not
_NUMBER_TOKEN = re.compile(r"(?<![A-Za-z_0-9.])(0[xXoObB][0-9A-Fa-f_]*|[0-9][0-9._]*_[0-9_.eE+-]*)")
SHOWN = 40  # characters of an unknown name that a message repeats


def clip(text: str) -> str:
    """At most SHOWN characters of what the user typed (a 5000-character name is not echoed)."""
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}... ({len(text)} characters)"


def builtins() -> tuple[str, ...]:
    """The built-ins' names, read from their modules' source (functions.REGISTRY imports torch; a
    test keeps the two equal), so a refusal of sinc(x) can say that sinc alone is registered."""
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "functions"
    return tuple(p.stem for p in sorted(folder.glob("*.py")) if "\nSPEC = " in p.read_text(encoding="utf-8"))


def _registered(name: str) -> str:
    """'; sinc is a registered function: type `sinc` alone ...' for a built-in's name."""
    if name in builtins():
        return f"; {name} is a registered function: type `{name}` alone (backprop grad {name} --x 1)"
    return ""


def refuse_bare_name(name: str, registered: tuple[str, ...] | None = None) -> None:
    """InputError for a bare word that is neither a registered function nor an expression (x, y,
    a, b, c, pi and e alone are expressions: f = x is a function too); light, so the CLI refuses
    `backprop grad foo` before torch loads."""
    registered = builtins() if registered is None else registered
    if name in registered or name in VARIABLES or name in PARAMS or name in CONSTANTS:
        return
    close = difflib.get_close_matches(name[:SHOWN], [*registered, *FUNCTIONS], n=1)
    hint = ""
    if close:
        hint = f" (did you mean {close[0]!r}?)" if close[0] in registered else f" (did you mean '{close[0]}(x)'?)"
    raise InputError(f"unknown function {clip(name)!r}; known functions: {', '.join(registered)}, or an "
                     f"expression in x and y such as 'x*sin(x)'{hint}")


def _name(name: str) -> Expr:
    if name in VARIABLES or name in PARAMS:
        return Var(name)
    if name in CONSTANTS:
        return Const(name)
    if name in FUNCTIONS:
        raise InputError(f"function {name!r} must be called, e.g. {name}(x)")
    known = VARIABLES + PARAMS + tuple(CONSTANTS)
    hint = difflib.get_close_matches(name[:SHOWN], known + FUNCTIONS, n=1)
    raise InputError(f"unknown name {clip(name)!r}; names allowed: {', '.join(known)}"
                     + (f" (did you mean {hint[0]!r}?)" if hint else "") + _registered(name))


def _unknown_function(fn: str) -> str:
    hint = difflib.get_close_matches(fn[:SHOWN], FUNCTIONS, n=1)
    return (f"unknown function {clip(fn)!r}; known: {' '.join(FUNCTIONS)}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "") + _registered(fn))


def _describe(node: ast.AST) -> str:
    names = {ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambda",
             ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
             ast.GeneratorExp: "comprehensions", ast.Compare: "comparisons", ast.BoolOp: "boolean operators",
             ast.IfExp: "conditional expressions", ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts",
             ast.Set: "sets", ast.JoinedStr: "strings", ast.NamedExpr: "assignment (:=)", ast.Await: "await",
             ast.Starred: "starred arguments", ast.Slice: "slices"}
    if isinstance(node, ast.BinOp):
        return f"operator {type(node.op).__name__}"
    if isinstance(node, ast.UnaryOp):
        return f"operator {type(node.op).__name__}"
    return names.get(type(node), type(node).__name__)


# ---- bounds on constants ----------------------------------------------------------------------


def constant_value(tree: Expr) -> float | None:
    """The float value of a sub-expression without variables or parameters, else None."""
    if isinstance(tree, Num):
        return float(tree.value)
    if isinstance(tree, Const):
        return CONSTANTS[tree.name]
    if isinstance(tree, Var):
        return None
    if isinstance(tree, Neg):
        v = constant_value(tree.arg)
        return None if v is None else -v
    if isinstance(tree, Bin):
        left, right = constant_value(tree.left), constant_value(tree.right)
        if left is None or right is None:
            return None
        return _fold(tree.op, left, right)
    v = constant_value(tree.arg)
    return None if v is None else _fold_call(tree.fn, v)


def _fold(op: str, a: float, b: float) -> float:
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        return math.pow(a, b)
    except ZeroDivisionError:
        raise InputError("division by zero in a constant") from None
    except (OverflowError, ValueError):
        raise InputError(f"constant {general(a)} {op} {general(b)}"
                         f" is undefined or beyond the limit {general(MAX_CONSTANT)}") from None


def _fold_call(fn: str, v: float) -> float:
    import mpmath  # only for sigmoid/softplus of constants; light, and torch imports it anyway

    try:
        if fn == "sigmoid":
            return float(1 / (1 + mpmath.exp(-v)))
        if fn == "softplus":
            return float(mpmath.log1p(mpmath.exp(v)))
        if fn == "abs":
            return abs(v)
        return float(getattr(math, fn)(v))
    except (OverflowError, ValueError, ZeroDivisionError):
        raise InputError(f"constant {fn}({general(v)})"
                         f" is undefined or beyond the limit {general(MAX_CONSTANT)}") from None


def _checked(tree: Expr) -> Expr:
    """Refuse a constant sub-expression whose size leaves [1/MAX_CONSTANT, MAX_CONSTANT] (or 0)."""
    v = constant_value(tree)
    if v is not None and (not math.isfinite(v) or abs(v) > MAX_CONSTANT
                          or (v == 0 and not _exactly_zero(tree)) or 0 < abs(v) < 1 / MAX_CONSTANT):
        raise InputError(f"constant {to_text(tree)} is beyond the limit {general(MAX_CONSTANT)} in size")
    return tree


def _exactly_zero(tree: Expr) -> bool:
    """A zero that is not an underflow: an operation with a zero operand, or a difference."""
    if isinstance(tree, Num):
        return tree.value == 0
    if isinstance(tree, Bin):
        if tree.op in "+-":
            return True  # e.g. 1 - 1: a true zero, not a tiny number rounded away
        return constant_value(tree.left) == 0 or (tree.op == "*" and constant_value(tree.right) == 0)
    if isinstance(tree, (Neg, Call)):
        return constant_value(tree.arg) == 0
    return False


def _check_exponent(exponent: Expr) -> None:
    v = constant_value(exponent)
    if v is None:
        return  # u**x: evaluated in floating point, never exactly
    if abs(v) > MAX_EXPONENT:
        raise InputError(f"exponent {general(v)} too large (limit {MAX_EXPONENT} in size)")


# ---- printing ---------------------------------------------------------------------------------


def to_text(tree: Expr) -> str:
    """Normalised text: Python syntax, '**' for power, the fewest parentheses."""
    return _text(tree)[0]


def _text(tree: Expr) -> tuple[str, int]:
    if isinstance(tree, Num):
        v = tree.value
        s = str(v) if isinstance(v, int) else repr(v)
        return s, (3 if s.startswith("-") else 5)
    if isinstance(tree, (Const, Var)):
        return tree.name, 5
    if isinstance(tree, Call):
        return f"{tree.fn}({to_text(tree.arg)})", 5
    if isinstance(tree, Neg):
        s, p = _text(tree.arg)
        return "-" + (f"({s})" if p < _PREC["neg"] else s), _PREC["neg"]
    prec = _PREC[tree.op]
    left, lp = _text(tree.left)
    right, rp = _text(tree.right)
    if tree.op == "**":
        left = f"({left})" if lp <= prec else left  # (-x)**2, (x**2)**3
        right = f"({right})" if rp < _PREC["neg"] else right  # x**-1 is fine, x**(a+b) is not
        return f"{left}**{right}", prec
    left = f"({left})" if lp < prec else left
    right = f"({right})" if rp <= prec else right  # a - (b - c), a/(b*c)
    sep = f" {tree.op} " if tree.op in "+-" else tree.op
    return f"{left}{sep}{right}", prec


def _names(tree: Expr) -> set[str]:
    if isinstance(tree, Var):
        return {tree.name}
    if isinstance(tree, Bin):
        return _names(tree.left) | _names(tree.right)
    if isinstance(tree, (Neg, Call)):
        return _names(tree.arg)
    return set()
