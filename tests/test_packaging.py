"""What an installed package needs at run time ships inside it."""

import ast
import sys
from importlib import resources
from pathlib import Path

import pytest

from backpropcli.app.report import report_config_files

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).parent.parent


def test_report_configs_ship_in_the_package_and_match_the_examples():
    # one source of truth: configs/ (what users read) and the package data (what
    # `backprop report` runs) are the same files
    shipped = resources.files("backpropcli") / "configs"
    for name in report_config_files():
        assert (shipped / name).read_text() == (ROOT / "configs" / name).read_text(), name


def test_package_data_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = project["tool"]["setuptools"]["package-data"]["backpropcli"]
    assert "configs/*.yaml" in data
    # the explorer inlines its stylesheet and script into every page: both must ship
    assert "present/explorer/*.css" in data and "present/explorer/*.js" in data
    shipped = resources.files("backpropcli") / "present" / "explorer"
    assert (shipped / "explorer.css").is_file() and (shipped / "explorer.js").is_file()


def test_every_third_party_import_is_declared():
    declared = {d.split(">")[0].split("=")[0].strip().lower().replace("-", "_")
                for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    module_to_dist = {"yaml": "pyyaml", "markdown_it": "markdown_it_py"}
    for path in (ROOT / "backpropcli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                if top == "backpropcli" or top in sys.stdlib_module_names:
                    continue
                if path.name == "pytest_plugin.py" and top in ("pytest", "_pytest"):
                    continue  # only pytest loads the plugin (entry point pytest11): it is there when it runs
                assert module_to_dist.get(top, top) in declared, f"{path.name} imports {top}, not in pyproject.toml"
