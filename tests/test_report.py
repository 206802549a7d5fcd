"""`backprop report`: built into a temp folder, every figure exists, numbers match the commands."""

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import check_golden

from backpropcli.app import report as reports
from backpropcli.cli import app
from backpropcli.present import fmt


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return reports.report(reports.ReportRequest(Path("configs"), tmp_path_factory.mktemp("report")))


def section(text: str, start: str, end: str | None) -> str:
    i = text.index(start)
    return text[i:text.index(end, i)] if end else text[i:]


def test_every_referenced_figure_exists(built):
    text = built.markdown.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) >= 9  # Figures 1, 2 (twice), 4, 5, 6, 7 and the loss graph
    for name in images:
        assert not Path(name).is_absolute()
        path = built.folder / name
        assert path.exists() and path.read_bytes().startswith(b"\x89PNG"), name
    for figure in ("Figure 1", "Figure 2", "Figure 4", "Figure 5", "Figure 6", "Figure 7"):
        assert f"![{figure}" in text


def test_html_is_self_contained(built):
    html = built.html.read_text()
    assert html.count("<img") >= 9 and html.count('src="data:image/png;base64,') == html.count("<img")
    assert "<table>" in html and "<h2>Where the report needs correcting</h2>" in html


def test_corrections_are_computed(built):
    text = built.markdown.read_text()
    fixes = section(text, "## Where the report needs correcting", "## Summary")
    assert "has not converged" in fixes and "2356 iterations" in fixes and "309 steps" in fixes
    assert "sinc at x = 0: the report's graph breaks" in fixes
    assert "softplus at x = 1000: the report's graph breaks" in fixes
    assert "x = -1000: the report's graph breaks" not in fixes  # e^-1000 underflows harmlessly there
    assert built.ok and all(verdict.ok for verdict in built.verdicts)


def test_numbers_match_the_commands_own_json(built, runner):
    text = built.markdown.read_text()
    for command, name in (("grad", "sinc"), ("grad", "quad"), ("grad", "softplus"), ("hessian", "softplus")):
        payload = json.loads(runner.invoke(app, [command, "--config", f"configs/{name}.yaml", "--json"]).stdout)
        mine = built.sections[f"{command}_{name}"]
        assert mine["points"] == payload["points"]
        point = payload["points"][0]
        columns = point["gradients"]["x"] if command == "grad" else {
            k: v[0][0] for k, v in point["hessian"].items() if k != "abs_error"}
        for method in ("analytic", "custom", "autograd", "finite_difference"):
            assert fmt.full(columns[method]) in text, (command, name, method)  # as the terminal prints it
    regress = json.loads(runner.invoke(app, ["regress", "--config", "configs/regress.yaml", "--json"]).stdout)
    assert built.sections["regress_report"]["W"] == regress["W"]
    # a float32 run's numbers in its own shortest digits (they read back as the same float32)
    assert fmt.full(regress["W"], "float32") in text and fmt.full(regress["b"], "float32") in text


def test_golden_stable_parts(built):
    text = built.markdown.read_text()
    for name, start, end in (("report-corrections.md", "## Where the report needs correcting", "## Summary"),
                             ("report-quad.md", "### a·x²", "### ln(1 + eˣ)")):
        check_golden(name, section(text, start, end))


def test_cli_summary_and_exit_codes(runner, tmp_path):
    result = runner.invoke(app, ["report", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "all 21 checks ok" in result.stdout and "report.md" in result.stdout

    configs = tmp_path / "configs"
    shutil.copytree("configs", configs)
    (configs / "regress-converged.yaml").write_text("lr: 0.01\niters: 5\n")  # does not converge
    failed = runner.invoke(app, ["report", "--config-dir", str(configs), "--out", str(tmp_path / "f"), "--json"])
    assert failed.exit_code == 1
    payload = json.loads(failed.stdout)
    assert payload["ok"] is False
    assert [c["name"] for c in payload["checks"] if not c["ok"]] == [
        "regression with settings that converge does converge"]

    missing = runner.invoke(app, ["report", "--config-dir", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "missing config file(s)" in missing.stderr


def test_report_runs_from_any_folder_with_its_shipped_configs(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: the package's own are used
    result = runner.invoke(app, ["report", "--json"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "outputs" / "report" / "report.md").is_file()
    assert "shipped with backprop" in (tmp_path / "outputs" / "report" / "report.md").read_text()


def test_figure_3_is_one_gate_of_a_real_run(built):
    text = built.markdown.read_text()
    assert "![Figure 3](gate.png)" in text and (built.folder / "gate.png").exists()
    gate = built.gate
    edges = [e for e in gate.figure.trace.edges if e.target == gate.node and e.local is not None]
    assert edges and all(abs(e.downstream - e.upstream * e.local) <= 1e-12 for e in edges)
    # plain words, no parentheses inside parentheses: "node v3 of sinc: the graph of f′ …"
    caption = section(text, "**Figure 3.**", "\n")
    assert "One gate of a real run, node " in caption and "(3.2)" not in text
    # each caption says its figure once
    assert "(Figure 4)" not in section(text, "**Figure 4.**", "\n")


def test_the_discussion_points_are_run(built):
    text = built.markdown.read_text()
    d = built.discussion
    # class names, not reprs: a memory address would make report.md differ on every run
    assert not d.same_grad_fn and d.grad_fns == ("MeanBackward0", "MeanBackward0")
    assert " at 0x" not in text and "`first.grad_fn is second.grad_fn` is `False`: two objects" in text
    assert d.grad_twice == pytest.approx(2 * d.grad_once)
    # PyTorch's own words, not a paraphrase
    assert d.no_grad_error == "a leaf Variable that requires grad is being used in an in-place operation."
    assert f"RuntimeError: {d.no_grad_error}" in text
    assert "never converges" in d.no_zero_grad.verdict and "never converges" in text
    assert "changes 4 setting(s): lr 0.01 → 0.1, iters 100 → 500, dtype float32 → float64" in text


def test_a_float32_run_prints_float32_digits(built):
    text = built.markdown.read_text()
    # the report's regression runs in float32: its 0.3 is 0.3, not 0.30000001192092896
    assert "0.30000001192092896" not in text and "5.914999961853027" not in text
    assert "| W (final) | -0.6064835 |" in text


# ---- report.html in a real browser: nothing under 10 px -----------------------------------------------

MEASURE = """(() => {
  let smallest = 1e9, where = "";
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    if (!node.textContent.trim()) continue;
    const size = parseFloat(getComputedStyle(node.parentElement).fontSize);
    if (size < smallest) { smallest = size; where = node.textContent.trim().slice(0, 40); }
  }
  const images = [...document.images].map(img => [img.getBoundingClientRect().width, img.naturalWidth]);
  const cells = [...document.querySelectorAll("td")].map(td => [td.textContent.trim(), getComputedStyle(td).textAlign]);
  return {smallest, where, images, cells};
})()"""


@pytest.fixture(scope="module")
def browser():
    import os

    from cdp import Browser, find_browser

    if find_browser() is None:
        if os.environ.get("BACKPROP_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail("BACKPROP_REQUIRE_BROWSER is set and no Chromium was found (apt-get install chromium)")
        pytest.skip("no Chromium found (apt-get install chromium, or set BACKPROP_BROWSER)")
    with Browser() as running:
        yield running


@pytest.mark.parametrize("width", [1280, 700])
def test_report_html_has_no_text_under_10px_in_a_browser(built, browser, width):
    """Every text's computed size, and each figure's smallest text as shown: its scale on the page
    times its own smallest text (figures/common.save records it in the PNG)."""
    import base64

    from backpropcli.present.figures.common import png_facts

    html = built.html.read_text()
    text_px = [png_facts(base64.b64decode(m))[1] for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]
    page = browser.open(built.html.as_uri(), width=width)
    result = page.evaluate(MEASURE)
    page.close()
    assert result["smallest"] >= 10, result["where"]
    assert len(result["images"]) == len(text_px) >= 9
    for (shown, natural), smallest in zip(result["images"], text_px):
        assert shown / natural * smallest >= 10, (shown, natural, smallest)  # never shrunk below legible text
        assert shown <= natural + 1  # nor blown up past its own pixels
    aligned = dict(result["cells"])
    assert aligned["x = 2"] == aligned["∂f/∂x"] == aligned["learning rate"] == "left"  # text reads from the left
    assert aligned["-0.4353977749799916"] == aligned["1.3e-16"] == "right"  # digits line up


def test_an_explorer_page_beside_the_report_for_each_traced_figure(built):
    """Figures 4-7 and the loss graph, each stepped through in a browser: linked from report.md/.html."""
    text = built.markdown.read_text()
    html = built.html.read_text()
    for stem in ("sinc-graph", "quad-graph", "softplus-graph", "softplus-derivative-graph", "regression-graph"):
        page = built.folder / f"{stem}-explorer.html"
        assert page.exists() and page in built.files, stem
        assert f"]({stem}-explorer.html)" in text and f'href="{stem}-explorer.html"' in html
        assert page.read_text().startswith("<!doctype html>")
    figure7 = (built.folder / "softplus-derivative-graph-explorer.html").read_text()
    assert "Figure 7" in figure7 and "∂f′/∂x" in figure7
