"""docs/api-reference.md, written from the docstrings of the public Python API.

    python docs/api_reference.py           rewrite the page (make docs runs it)
    python docs/api_reference.py --check   exit 1 when the page differs from the docstrings
                                           (tests/test_api_reference.py runs the same check)

The public names are those of ``backpropcli.__all__``, the results they return (backpropcli.api)
and the pytest fixture; each is shown with its signature as written in the code and its
docstring, so the reference cannot say what the code does not.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "api-reference.md"
RESULTS = ("Check", "Manual", "Derivatives", "Regression", "Trace", "Picture", "Finding")

INTRO = """# Python API reference

Written from the docstrings by `docs/api_reference.py` (`make docs`); `tests/test_api_reference.py`
fails when this page and the code disagree. How to use it: [the Python API](api.md).
Everything not listed here is private and may change.
"""


def _parameter(p: inspect.Parameter) -> str:
    text = p.name
    if p.kind is p.VAR_KEYWORD:
        text = "**" + text
    elif p.kind is p.VAR_POSITIONAL:
        text = "*" + text
    if p.annotation is not p.empty:
        text += f": {p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation)}"
    if p.default is not p.empty:
        text += f"{' = ' if p.annotation is not p.empty else '='}{p.default!r}"  # as PEP 8 spaces them
    return text


def signature(name: str, fn) -> str:
    """``name(a, b=1, *, c=None) -> R`` as the code writes it (annotations are kept as text)."""
    sig = inspect.signature(fn)
    parts: list[str] = []
    star = False
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        star = star or p.kind is p.VAR_POSITIONAL
        parts.append(_parameter(p))
    out = f"{name}({', '.join(parts)})"
    if sig.return_annotation is not sig.empty:
        out += f" -> {sig.return_annotation}"
    return out


def _doc(obj) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _function(title: str, fn) -> list[str]:
    return [f"### `{title}`", "", "```python", signature(title, fn), "```", "", _doc(fn), ""]


def _members(cls) -> list[str]:
    """A result's public properties and methods, each with the first paragraph of its docstring."""
    lines = []
    for name, member in vars(cls).items():
        if name.startswith("_") or not (isinstance(member, property) or inspect.isfunction(member)
                                        or isinstance(member, classmethod)):
            continue
        target = member.fget if isinstance(member, property) else getattr(cls, name)
        shown = f"`.{name}`" if isinstance(member, property) else f"`.{signature(name, target)}`"
        first = _doc(target).split("\n\n")[0].replace("\n", " ")
        lines.append(f"* {shown}" + (f": {first}" if first else ""))
    return lines


def _result(cls) -> list[str]:
    lines = [f"### `{cls.__name__}`", "", _doc(cls), ""]
    fields = getattr(cls, "__dataclass_fields__", None)
    if fields:
        lines.append("Fields: " + ", ".join(f"`{name}`" for name in fields) + ".")
        lines.append("")
    members = _members(cls)
    return lines + (members + [""] if members else [])


def page() -> str:
    import backpropcli
    from backpropcli import api, pytest_plugin

    lines = [INTRO, "## Functions", ""]
    for name in backpropcli.__all__:
        obj = getattr(backpropcli, name)
        if inspect.isfunction(obj):
            lines += _function(f"backpropcli.{name}", obj)
    lines += ["## The pytest fixture", "", "Installed with the package (entry point `pytest11`); "
              "a test asks for it by name.", ""]
    fixture = pytest_plugin.check_gradients
    lines += ["### `check_gradients`", "", _doc(getattr(fixture, "__wrapped__", fixture)), ""]
    lines += ["## Results", ""]
    for name in RESULTS:
        lines += _result(getattr(api, name))
    lines += ["## Errors", ""]
    for name in backpropcli.__all__:
        obj = getattr(backpropcli, name)
        if inspect.isclass(obj):
            lines += [f"### `backpropcli.{name}`", "", _doc(obj), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    fresh = page()
    if "--check" in argv:
        if PAGE.read_text() != fresh:
            print(f"stale: {PAGE.relative_to(ROOT)}; run `python docs/api_reference.py`")
            return 1
        return 0
    PAGE.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
