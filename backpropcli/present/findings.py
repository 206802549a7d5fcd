"""A finding in words: the registry's templates (doctor/codes.py) filled from the finding's input,
output and extra, every number through present/fmt.

The doctor puts raw values in ``Finding.extra`` (floats, shapes, indices, a machine-readable
condition); this module is where they become text, so a number looks the same in every message.
A field the finding does not give stays visible as ``{name}`` in the text (a gap a reader can see
and a test can find), never an exception: a message is shown while something else has gone wrong.

Fields derived here from raw values (the doctor may give the text itself instead):

* ``condition_text`` from ``condition`` (the vocabulary of doctor/conditions.py): {"input": "x",
  "op": "<", "value": 0} is "exactly where x < 0" ("abs": |x|, "param": "a" names the threshold,
  {"output": 0, ...} an output, "==" True "where mask is True"); {"index": "idx", "dim": 0,
  "repeats": True} is "exactly the rows idx repeats" ("hit": the rows idx names or never names,
  "along": gather-style); {"all": [...]} joins with "and", {"any": [...]} with "or".
* ``factor_text`` from ``factor``: a simple fraction ("1/64") when it is one, else six digits.
* ``ratio_text`` from ``ratio``; ``s`` (a plural) from ``dims``; ``transpose_note`` from
  ``transposed``; ``name_text`` from ``surrogate`` (e.g. "a straight-through estimator").
* Suffix fields (``condition_text``, ``meaning``, ``transpose_note``, ``name_text``, ``where``)
  are empty when absent: "wrong at 3 of 64 elements" with no condition found says so by itself.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from typing import Any

from backpropcli.doctor.codes import code as registered
from backpropcli.doctor.codes import phrase
from backpropcli.present import fmt

SHAPE_KEYS = frozenset({"got", "want", "shape", "expected", "actual"})
INDEX_KEYS = frozenset({"worst_index", "index"})
OPTIONAL = frozenset({"condition_text", "meaning", "transpose_note", "name_text", "where", "s"})
OPS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "=", "!=": "≠"}
DIRECTIONS = {"-": "custom = truth − the element's own term", "minus": "custom = truth − the element's own term",
              "+": "custom = truth + the element's own term", "plus": "custom = truth + the element's own term"}
ITEMS = 6  # entries of a long list shown before "…"


class _Missing(Exception):
    """A field the finding does not give: the template keeps it as {name}."""


def _number(value: float, key: str) -> str:
    if not math.isfinite(value):
        return str(value)
    if "error" in key or "difference" in key:
        return fmt.error(value)
    return fmt.general(value)


def shape(value) -> str:
    """(3, 4), (5,), (): a shape as Python writes the tuple a tensor's .shape equals."""
    dims = [int(d) for d in value]
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def index(value) -> str:
    """[3, 7]: the element x[3, 7]; () for the only element of a 0-d tensor."""
    dims = [int(value)] if isinstance(value, int) else [int(d) for d in value]
    return "[" + ", ".join(map(str, dims)) + "]" if dims else "()"


def _listed(items: list[str]) -> str:
    shown = items[:ITEMS]
    return ", ".join(shown) + (", …" if len(items) > ITEMS else "")


def text(value: Any, key: str = "") -> str:
    """Any raw value of an extra as words: numbers through fmt, shapes as (3, 4), indices as
    [3, 7], a list of names joined, a condition as "exactly where x < 0"."""
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()  # a tensor or numpy value: its Python numbers
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value, key)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return condition(value)
    if isinstance(value, (list, tuple)):
        if key in SHAPE_KEYS:
            return shape(value)
        if key in INDEX_KEYS:
            return index(value)
        return _listed([text(v, key) for v in value])
    return str(value)


def _operand(cond: Mapping) -> str:
    """The right side of a comparison: a number, a name, or a parameter with its value."""
    value = cond["value"]
    shown = value if isinstance(value, str) else text(value)
    return f"{cond['param']} (= {shown})" if cond.get("param") else shown


def _subject(cond: Mapping) -> str:
    """The left side: an input by name, an output by name or position, |x| for an absolute value."""
    if "input" in cond:
        name = str(cond["input"])
    else:
        name = cond["output"] if isinstance(cond["output"], str) else f"output {cond['output']}"
    return f"|{name}|" if cond.get("abs") else name


def _rows(cond: Mapping) -> str:
    dim = cond.get("dim", 0)
    return "rows" if dim == 0 else f"entries along dim {dim}"


def _index_condition(cond: Mapping) -> str:
    """classify's conditions over an index tensor (doctor/conditions.py)."""
    name = cond["index"]
    if cond.get("along"):  # gather-style: per position of the other dims
        return f"exactly where {name} names an entry along dim {cond.get('dim', 0)} more than once"
    if "repeats" in cond:
        verb = "repeats" if cond["repeats"] else "does not repeat"
        return f"exactly the {_rows(cond)} {name} {verb}"
    for key in ("hit", "selects"):
        if key in cond:
            return f"exactly the {_rows(cond)} {name} {'names' if cond[key] else 'never names'}"
    raise _Missing


def condition(cond: Mapping) -> str:
    """A machine-readable condition (doctor/conditions.py) as the words of a message; one this
    module does not know is raised as _Missing, so the template shows {condition_text}."""
    if "all" in cond or "any" in cond:
        parts = [condition(c).removeprefix("exactly ") for c in cond.get("all", cond.get("any", ()))]
        if not parts:
            raise _Missing
        joined = (" and " if "all" in cond else " or ")
        if all(p.startswith("where ") for p in parts):  # "where x ≥ 1 and x ≤ 2"
            return "exactly where " + joined.join(p.removeprefix("where ") for p in parts)
        return "exactly " + joined.join(parts)
    if "index" in cond:
        return _index_condition(cond)
    if ("input" in cond or "output" in cond) and cond.get("op") in OPS and "value" in cond:
        if cond["op"] in ("==", "!=") and isinstance(cond["value"], bool):
            truth = cond["value"] if cond["op"] == "==" else not cond["value"]
            return f"exactly where {_subject(cond)} is {truth}"
        return f"exactly where {_subject(cond)} {OPS[cond['op']]} {_operand(cond)}"
    raise _Missing


def factor_text(factor: float) -> str:
    """2.5 and 0.25 as decimals (short and exact), 1/64 and 1/3 as fractions, else six digits."""
    decimal = fmt.general(factor)
    if float(decimal) == factor and len(decimal.lstrip("-")) <= 4:
        return decimal
    return fmt.fraction(factor) or decimal


def _derived(key: str, extra: Mapping[str, Any]) -> str:
    """A field computed from a raw one; _Missing when the raw one is absent too."""
    if key == "condition_text" and extra.get("condition"):
        return ", " + condition(extra["condition"])
    if key == "factor_text" and isinstance(extra.get("factor"), (int, float)):
        return factor_text(float(extra["factor"]))
    if key == "ratio_text" and isinstance(extra.get("ratio"), (int, float)):
        return fmt.num(float(extra["ratio"]), 3)
    if key.startswith("s_") and isinstance(extra.get(key[2:]), int):  # a plural: "1 element", "2 elements"
        return "" if extra[key[2:]] == 1 else "s"
    if key == "s" and isinstance(extra.get("dims"), (list, tuple)):
        return "s" if len(extra["dims"]) > 1 else ""
    if key == "transpose_note" and "transposed" in extra:
        return phrase("shape.transposed") if extra["transposed"] else ""
    if key == "name_text" and extra.get("surrogate"):
        return f" ({extra['surrogate']})"
    if key in OPTIONAL:
        return ""
    raise _Missing


def _given(key: str, value: Any) -> str:
    """A field the finding gives directly, as it reads in its place in the template."""
    if key == "dims" and isinstance(value, (list, tuple)):
        return str(int(value[0])) if len(value) == 1 else "(" + ", ".join(str(int(d)) for d in value) + ")"
    if key == "direction" and value in DIRECTIONS:
        return DIRECTIONS[value]
    if key == "condition_text" and isinstance(value, str):
        return value if not value or value.startswith((",", " ", ":")) else ", " + value
    if key in ("meaning", "where", "name_text") and isinstance(value, str):
        return value if not value or value.startswith((",", " ", ":", "(")) else ", " + value
    if key == "transpose_note" and isinstance(value, bool):
        return phrase("shape.transposed") if value else ""
    return text(value, key)


def field_text(finding, key: str) -> str:
    """One template field's text; ``{key}`` when the finding does not give it."""
    try:
        if key == "input" and finding.input is not None:
            return str(finding.input)
        if key == "output" and finding.output is not None:
            return str(finding.output)
        if key in finding.extra and finding.extra[key] is not None:
            return _given(key, finding.extra[key])
        return _derived(key, finding.extra)
    except (_Missing, TypeError, ValueError, KeyError):
        return "{" + key + "}"


def fill(template: str, finding) -> str:
    """The template with every {field} replaced (format specs and conversions are not used)."""
    out = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:  # an unbalanced brace in a registered template: shown as it is
        return template
    for literal, key, _spec, _conversion in parsed:
        out.append(literal)
        if key is not None:
            out.append(field_text(finding, key))
    return "".join(out)


def message(finding) -> str:
    """What is wrong, in the registry's words, e.g. "the gradient for weight is the true gradient
    transposed"."""
    return fill(registered(finding.code).message, finding)


def fix(finding) -> str:
    """What to change, in the registry's words."""
    return fill(registered(finding.code).fix, finding)


def place(finding) -> str:
    """Where the finding is, for the findings table: the condition the wrong elements share, else
    the worst elements' indices, else the worst index or the dims; "" for the whole input."""
    extra = finding.extra
    try:
        if extra.get("condition"):
            return condition(extra["condition"]).removeprefix("exactly ")
    except _Missing:
        pass
    worst = extra.get("worst")
    if isinstance(worst, (list, tuple)) and worst and all(isinstance(w, Mapping) and "index" in w for w in worst):
        return _listed([index(w["index"]) for w in worst])
    if extra.get("worst_index") is not None:
        return index(extra["worst_index"])
    if extra.get("dims") is not None:
        return "dim " + _given("dims", extra["dims"])
    return ""
