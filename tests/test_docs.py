"""The docs cannot go stale: every shown output is what the tool prints now (docs/generate.py),
every link lands, every Python snippet runs, and the tree of the code matches its folders."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import same_number

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import generate  # noqa: E402  (docs/generate.py, the tool that writes the outputs)

PAGES = generate.pages()
# pages the other parts of the project are writing: linked already, not yet here (only shrinks)
PENDING: set[str] = set()


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_shown_output_is_what_the_tool_prints_now(page, monkeypatch):
    import backpropcli.functions  # noqa: F401  (warms torch's unary kernels first)

    stale = []
    with generate.scratch():
        for block in generate.blocks(page):
            fresh = generate.render(block)
            if not generate.same(block.body, fresh):
                stale.append(f"{block.where()}  $ {block.commands[0]}\n--- shown ---\n{block.body}"
                             f"--- printed now ---\n{fresh}")
    assert not stale, "stale output; run `make docs` to rewrite it:\n" + "\n".join(stale)


def test_a_stale_output_is_caught_and_noise_is_not():
    """Both directions of the comparison the check applies (the goldens' rule)."""
    shown = "  max |error|    custom 5.6e-17,  finite diff 7.6e-12\n  verdict        all 1 point(s) ok\n"
    noise = shown.replace("7.6e-12", "7.60000000001e-12")
    assert generate.same(shown, noise) and same_number("7.6e-12", "7.60000000001e-12")
    assert generate.same(shown, shown.replace("5.6e-17", "2.8e-17")) and same_number("4.2e-17", "2.1e-17")
    for changed in (shown.replace("7.6e-12", "7.7e-12"), shown.replace("5.6e-17", "5.6e-11"),
                    shown.replace("ok", "FAILED"), shown.replace("1 point(s)", "2 point(s)"), shown + "extra line\n"):
        assert not generate.same(shown, changed), changed


def test_the_runner_prints_what_the_cli_prints():
    """The in-process runner (one torch import for every block) against a real process."""
    import os

    text, code = generate.run("backprop grad sinc --x 2")
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "backpropcli", "grad", "sinc", "--x", "2"], capture_output=True,
                          text=True, env=env, check=False)
    assert code == done.returncode == 0
    assert generate.same("\n".join(generate._trimmed(text)), "\n".join(generate._trimmed(done.stdout)))


def _links(text: str):
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
            yield target.split("#")[0]


def test_every_link_lands():
    for page in PAGES:
        for target in _links(page.read_text()):
            resolved = (page.parent / target).resolve()
            name = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(resolved)
            assert resolved.exists() or name in PENDING, f"{_name(page)} links to {target}, which is not there"
    for name in PENDING:  # a page that has arrived leaves the list
        assert not (ROOT / name).exists(), f"{name} exists now: remove it from PENDING"


@pytest.mark.parametrize("page", [p for p in PAGES if "```python run" in p.read_text()], ids=_name)
def test_every_runnable_python_snippet_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for code in re.findall(r"^```python run\n(.*?)^```$", page.read_text(), re.M | re.S):
        exec(compile(code, str(page), "exec"), {})


def test_the_readme_is_read_in_a_minute():
    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) < 150, len(lines)
    assert lines[0] == "# backprop" and "makes backpropagation visible and checkable" in lines[2]
    assert "make demo" in text[:1200] and "make test" in text[:1200]  # the two commands, near the top
    assert "docs/index.md" in text


def test_the_readme_shows_a_screenshot_of_a_backward_step_in_the_explorer():
    """The explorer issue's "done when": the README itself shows a backward step, not only a link."""
    text = (ROOT / "README.md").read_text()
    shown = re.findall(r"!\[([^\]]*)\]\((docs/images/explorer[^)]*\.png)\)", text)
    assert shown, "README.md shows no screenshot of the explorer"
    words, path = shown[0]
    assert "backward" in words and (ROOT / path).read_bytes().startswith(b"\x89PNG")


def test_the_tree_of_the_code_names_every_folder():
    text = (ROOT / "docs" / "organisation.md").read_text()
    (tree,) = re.findall(r"^```tree\n(.*?)^```$", text, re.M | re.S)
    named, stack = set(), []
    for line in tree.splitlines()[1:]:
        match = re.match(r"( *)(\w+)/ ", line + " ")
        if not match:
            continue
        depth = len(match.group(1)) // 2 - 1
        stack[depth:] = [match.group(2)]
        named.add("/".join(stack))
    package = ROOT / "backpropcli"
    folders = {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_dir()
               and p.name != "__pycache__" and any(p.iterdir())}
    assert named == folders, f"in the tree only: {named - folders}; folders not in it: {folders - named}"


def test_the_page_of_finding_codes_is_what_the_registry_says():
    """docs/check-codes.md is written from backpropcli/doctor/codes.py (make docs): current, and
    naming every registered code with its severity."""
    from backpropcli.doctor.codes import CODES

    page = ROOT / generate.CODES_PAGE
    assert page.read_text() == generate.codes_page(), "docs/check-codes.md is stale; run `make docs`"
    rows = dict(re.findall(r"^\| `([\w-]+)` \| (\w+) \|", page.read_text(), re.M))
    assert rows == {name: c.severity for name, c in CODES.items()}
    assert not list(generate.stale_pages())


def test_a_generated_page_out_of_date_is_caught(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / generate.CODES_PAGE).write_text(generate.codes_page().replace("| error |", "| warning |", 1))
    assert [p.name for p, _ in generate.stale_pages(tmp_path)] == ["check-codes.md"]
    (tmp_path / generate.CODES_PAGE).write_text(generate.codes_page())
    assert not list(generate.stale_pages(tmp_path))


def test_a_codes_text_lives_only_in_the_registry():
    """Every template of doctor/codes.py is written there and nowhere else in the package; the codes
    grad and hessian emit are registry entries with a message for points."""
    from backpropcli.doctor.codes import CODES

    package = ROOT / "backpropcli"
    sources = {p: p.read_text() for p in package.rglob("*.py") if p.name != "codes.py"}
    for c in CODES.values():
        for template in (c.message, c.points_message, c.fix):
            if len(template) < 20:  # a few common words, not a code's text
                continue
            for path, text in sources.items():
                assert template not in text, f"{path}: the text of {c.code} is written outside the registry"


def test_the_codes_of_grad_and_hessian_are_registered(runner):
    from backpropcli.cli import app
    from backpropcli.doctor.codes import CODES

    result = runner.invoke(app, ["grad", "sqrt(x)", "--x=-1,0,1", "--json"])
    findings = json.loads(result.stdout)["findings"]
    assert {f["code"] for f in findings} == {"not-real", "not-differentiable"}
    for f in findings:
        assert f["severity"] == CODES[f["code"]].severity and CODES[f["code"]].points_message
