"""The house's shape: folders that show the parts, modules small enough to read, the layers apart.

Sizes are the renovation's limits: no module over 500 lines, no class over 200, no function over
60 (test_registry.py), at most 6 modules directly in backpropcli/."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "backpropcli"
# modules still being rewritten; the list only shrinks (the scalar doctor becomes the tensor doctor)
OVERSIZED: set[str] = set()
# the scalar doctor still words its findings and renders its JSON itself; the tensor doctor will not
RENDERS: set[str] = set()


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), path


def test_no_module_over_500_lines_and_no_class_over_200():
    for rel, path in _modules():
        if rel in OVERSIZED:
            continue
        text = path.read_text()
        assert text.count("\n") <= 500, f"{rel} has {text.count(chr(10))} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                length = node.end_lineno - node.lineno + 1
                assert length <= 200, f"{rel}:{node.lineno} class {node.name} has {length} lines"


def test_at_most_six_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 6, top


def test_the_core_never_prints_renders_or_exits():
    """core/ and doctor/ return data: no print, no rich, no typer, no sys.exit, no present/ or cli/ import."""
    for rel, path in _modules():
        if not rel.startswith(("core/", "doctor/")) or rel in RENDERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    assert not name.startswith(("rich", "typer", "backpropcli.present", "backpropcli.cli")), \
                        f"{rel}:{node.lineno} imports {name}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "print", f"{rel}:{node.lineno} prints"
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("sys.exit", "exit", "quit"):
                raise AssertionError(f"{rel}:{node.lineno} exits")


def test_the_application_layer_does_no_numerics_and_no_drawing():
    """app/ calls the core and the presenters' writers; it imports no torch, mpmath or matplotlib."""
    for rel, path in _modules():
        if not rel.startswith("app/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    assert name.split(".")[0] not in ("torch", "mpmath", "matplotlib", "sympy"), \
                        f"{rel}:{node.lineno} imports {name}"


FLOAT_FORMAT = re.compile(r"[eEfFgG%]$")  # a presentation type that turns a float into text
PERCENT_FORMAT = re.compile(r"%[-+ 0#]*\d*(\.\d+)?[eEfFgG]")


def _float_formats(tree):
    """(line, spec) of every f-string float format, format(x, spec) and "%g" % x in a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            spec = "".join(v.value for v in node.format_spec.values if isinstance(v, ast.Constant))
            if FLOAT_FORMAT.search(spec):
                yield node.lineno, spec
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "format" \
                and len(node.args) == 2:
            yield node.lineno, "format()"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) \
                and isinstance(node.left.value, str) and PERCENT_FORMAT.search(node.left.value):
            yield node.lineno, "%"


def test_floats_become_text_only_in_present_fmt():
    """fmt.py is the one place a float is formatted for people: tables, figures, the report and the
    messages all call it (general, num, fixed, error, full), so "how a number looks" is one edit."""
    found = [f"{rel}:{line} ({spec})" for rel, path in _modules() if rel != "present/fmt.py"
             for line, spec in _float_formats(ast.parse(path.read_text()))]
    assert not found, "format the number with backpropcli.present.fmt instead:\n" + "\n".join(found)


def test_the_float_format_finder_finds_them():
    code = 'a = f"{x:.3g} {y:g} {z:.1f} {n:>8} {w}"\nb = format(x, ".2e")\nc = "%.4g" % x\n'
    assert sorted(spec for _, spec in _float_formats(ast.parse(code))) == sorted([".3g", "g", ".1f", "format()", "%"])


TEXT_CUTS = ("split", "startswith", "endswith", "partition", "find", "index", "rsplit")


def test_no_presenter_reads_a_findings_message_text():
    """present/ words a finding from its code and fields (present/findings.py), never by cutting up
    a message: no method is called on anything's ``.message`` there."""
    found = []
    for rel, path in _modules():
        if not rel.startswith("present/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value  # x.message.split(...), or message.split(...) on a message held by name
            if isinstance(owner, ast.Attribute) and owner.attr == "message" or \
                    isinstance(owner, ast.Name) and owner.id == "message" and node.func.attr in TEXT_CUTS:
                found.append(f"{rel}:{node.lineno} {ast.unparse(node.func)}")
    assert not found, "a presenter parses a message's text:\n" + "\n".join(found)
