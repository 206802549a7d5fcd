"""The house's shape: folders that show the parts, modules small enough to read, the layers apart.

Sizes are the renovation's limits: no module over 500 lines, no class over 200, no function over
60 (test_registry.py), at most 6 modules directly in backpropcli/."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "backpropcli"
# modules still being rewritten; the list only shrinks (the scalar doctor becomes the tensor doctor)
OVERSIZED: set[str] = {"doctor/diagnose.py"}
# the scalar doctor still words its findings and renders its JSON itself; the tensor doctor will not
RENDERS = {"doctor/diagnose.py"}


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
