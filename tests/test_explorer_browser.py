"""The explorer page in a real headless browser (Chromium, over the DevTools pipe: tests/cdp.py).

Skipped, and said so at the end of the run, when no Chromium is installed (apt-get install
chromium, or BACKPROP_BROWSER=/path/to/chrome). Every wait polls a condition with a generous
deadline; nothing asserts how long anything took.
"""

import io
import json
import math
import os
from pathlib import Path

import mpmath
import pytest
from cdp import Browser, find_browser

from backpropcli.cli import app

# CI sets BACKPROP_REQUIRE_BROWSER=1: there a missing browser fails the run instead of skipping it
REQUIRED = os.environ.get("BACKPROP_REQUIRE_BROWSER", "") not in ("", "0")
pytestmark = pytest.mark.skipif(find_browser() is None and not REQUIRED, reason="no Chromium found: the explorer's "
                                "browser tests need one (apt-get install chromium, or set BACKPROP_BROWSER)")



@pytest.fixture(scope="module")
def browser():
    if find_browser() is None:
        pytest.fail("BACKPROP_REQUIRE_BROWSER is set and no Chromium was found (apt-get install chromium)")
    with Browser() as running:
        yield running


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The pages a user gets from --html, written by the CLI."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("explorer")
    runner = CliRunner()
    for args in (["grad", "sinc", "--x", "2"], ["grad", "x*sin(x)", "--x", "2"], ["regress", "--iters", "3"]):
        result = runner.invoke(app, [*args, "--html", "--out", str(out)])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["grad", "sinc", "--x", "0", "--html", "--out", str(out / "at0")])
    assert result.exit_code == 0, result.output
    example = Path(__file__).parent.parent / "examples" / "mlp_manual_buggy.py"
    result = runner.invoke(app, ["manual", str(example), "--html", "--out", str(out)])
    assert result.exit_code == 1, result.output  # its three mistakes
    return {"sinc": out / "grad-sinc-explorer.html", "xsinx": out / "grad-x_sin_x-explorer.html",
            "regress": out / "regress-explorer.html", "sinc0": out / "at0" / "grad-sinc-explorer.html",
            "manual": out / "manual-mlp_manual_buggy-explorer.html"}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """Where the screenshots go, for a person to look at: $BACKPROP_SCREENSHOTS, else a temp folder."""
    chosen = os.environ.get("BACKPROP_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def open_page(browser, pages):
    opened = []

    def open_(name: str, hash_: str = ""):
        page = browser.open(pages[name].as_uri() + hash_)
        page.wait("document.body.dataset.step !== undefined && document.getElementById('counter').textContent")
        opened.append(page)
        return page

    yield open_
    for page in opened:
        page.close()


def _visible(page, selector: str) -> list[str]:
    """data-node of the nodes whose `selector` element the browser actually renders (computed style)."""
    return page.evaluate(f"""Array.from(document.querySelectorAll('g.node')).filter(g => {{
        const el = g.querySelector({json.dumps(selector)});
        if (!el) return false;
        const style = getComputedStyle(el);
        return style.visibility === 'visible' && style.display !== 'none'; }}).map(g => g.dataset.node)""")


@pytest.mark.parametrize("name", ["sinc", "xsinx", "regress", "sinc0"])
def test_the_page_loads_with_no_console_error_and_no_network_request(open_page, pages, name):
    page = open_page(name, "#step=end")
    page.key("ArrowLeft")
    page.wait("document.body.dataset.step !== undefined")
    assert page.errors == []
    assert page.requests == [pages[name].as_uri()]  # the file itself, nothing else


def test_step_end_shows_the_gradient_of_x_for_sinc_at_2(open_page):
    page = open_page("sinc", "#step=end")
    last = page.evaluate("document.getElementById('slider').max")
    page.wait(f"document.body.dataset.step === '{last}'")
    cell = page.evaluate("document.querySelector('tr[data-node=\"x\"] td.grad').textContent")
    assert cell == "-0.43539777497999166"
    with mpmath.workdps(50):  # d/dx sin(x)/x at 2, independently: (x cos x - sin x)/x²
        truth = float((2 * mpmath.cos(2) - mpmath.sin(2)) / 4)
    assert math.isclose(float(cell), truth, rel_tol=1e-15)
    shown = page.evaluate("getComputedStyle(document.querySelector('tr[data-node=\"x\"] td.grad')).color")
    assert shown == "rgb(192, 57, 43)"  # red as in the PNG (#c0392b), not hidden
    panel = page.evaluate("document.getElementById('node-lines').textContent")
    assert "∂f/∂x = -0.22732435670642043 via v1 + -0.2080734182735712 via v2 = -0.43539777497999166" in panel


def test_arrow_right_reveals_the_nodes_one_at_a_time_in_topological_order(open_page):
    page = open_page("sinc", "#step=0")
    assert _visible(page, "text.value") == []
    edges = page.evaluate("Array.from(document.querySelectorAll('g.edge')).map(g => [g.dataset.source, "
                          "g.dataset.target])")
    seen: list[str] = []
    n = page.evaluate("document.querySelectorAll('g.node').length")
    for k in range(1, n + 1):
        page.key("ArrowRight")
        page.wait(f"document.body.dataset.step === '{k}'")
        shown = _visible(page, "text.value")
        new = [name for name in shown if name not in seen]
        assert len(shown) == k and len(new) == 1, (k, shown)  # one node more per step
        parents = {s for s, t in edges if t == new[0]}
        assert parents <= set(seen), (new, seen)  # its parents' values came first
        seen += new
        assert _visible(page, "text.grad") == []  # no gradient in the forward pass
    assert seen == ["x", "v1", "v2", "v3"]
    page.key("ArrowRight")  # the backward pass starts at the output
    page.wait(f"document.body.dataset.step === '{n + 1}'")
    assert _visible(page, "text.grad") == ["v3"]
    assert page.evaluate("location.hash") == f"#step={n + 1}"


def test_a_screenshot_at_the_last_step_is_not_blank(open_page, screenshots):
    import numpy as np
    from PIL import Image

    page = open_page("sinc", "#step=end")
    png = page.screenshot()
    (screenshots / "sinc-end.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    rgb = np.asarray(image).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    ink = int(((r + g + b) < 600).sum())
    red = int(((r > 150) & (g < 90) & (b < 80)).sum())  # the gradients, #c0392b
    assert image.width >= 800 and ink > 0.01 * r.size and red > 200, (ink, red, r.size)


def test_the_sinc_0_page_marks_the_step_where_nan_is_born(open_page, screenshots):
    page = open_page("sinc0")
    links = page.evaluate("Array.from(document.querySelectorAll('a.jump.nan')).map(a => a.getAttribute('href'))")
    # forward: v3 = v1·v2 = inf × 0; backward: v1 sends ∂f/∂v1 × ∂v1/∂x = 0 × -inf to x
    assert links == ["#step=4", "#step=7"]
    assert _visible(page, "tspan.born.nan") == []
    page.click("a.jump.nan")
    page.wait("document.body.dataset.step === '4'")
    assert page.evaluate("document.getElementById('step-panel').className") == "nan"
    assert "nan is born here: v3 = v1·v2 from v1 = inf, v2 = 0" in page.evaluate(
        "document.getElementById('step-lines').textContent")
    assert _visible(page, "tspan.born.nan") == ["v3"]
    png = page.screenshot()
    (screenshots / "sinc0-nan.png").write_bytes(png)


def test_clicking_a_node_shows_its_chain_rule_sum(open_page):
    page = open_page("xsinx", "#step=end")
    page.click("g.node[data-node='x'] rect.box")
    page.wait("location.hash.includes('node=x')")
    text = page.evaluate("document.getElementById('node-lines').textContent")
    assert "∂f/∂x = -0.8322936730942848 via v1 + 0.9092974268256817 via v2 = 0.0770037537313969" in text
    # d/dx x·sin x = sin x + x cos x, independently
    assert math.isclose(0.0770037537313969, math.sin(2) + 2 * math.cos(2), rel_tol=1e-14)
    page.key("Home")  # at step 0 the same node's gradient is not known yet
    page.wait("document.body.dataset.step === '0'")
    assert "not known yet" in page.evaluate("document.getElementById('node-lines').textContent")


def test_the_slider_and_the_hash_jump_to_a_step(open_page):
    page = open_page("regress")
    page.evaluate("(() => { const s = document.getElementById('slider'); s.value = '3'; "
                  "s.dispatchEvent(new Event('input')); })()")
    page.wait("document.body.dataset.step === '3'")
    page.evaluate("location.hash = '#step=end'")
    last = page.evaluate("document.getElementById('slider').max")
    page.wait(f"document.body.dataset.step === '{last}'")
    assert "∂L/∂W" in page.evaluate("document.getElementById('step-heading').textContent")


def test_printed_the_controls_go_and_the_numbers_stay(open_page):
    page = open_page("sinc", "#step=end")
    page.call("Emulation.setEmulatedMedia", media="print")
    assert page.evaluate("getComputedStyle(document.getElementById('next')).display") == "none"
    assert page.evaluate("getComputedStyle(document.querySelector('tr[data-node=\"x\"] td.grad')).color") == \
        "rgb(192, 57, 43)"
    assert page.pdf().startswith(b"%PDF")


def test_a_large_graph_stays_legible_and_follows_its_step(open_page, screenshots):
    """manual's 23 nodes: the graph keeps its text at 10 px or more (it scrolls rather than shrinks),
    and at a step far down the graph the step's node is inside the visible frame."""
    page = open_page("manual", "#step=26")
    page.wait("document.body.dataset.step === '26'")
    smallest = page.evaluate("Math.min(...Array.from(document.querySelectorAll('#graph text'))"
                             ".filter(t => t.getBoundingClientRect().height > 0)"
                             ".map(t => t.getBoundingClientRect().height))")
    assert smallest >= 10, smallest
    inside = page.evaluate("""(() => {
        const name = document.querySelector('#step-heading').textContent.split('∂loss/∂').pop();
        const node = document.querySelector('#graph [data-node="' + name + '"]').getBoundingClientRect();
        const frame = document.getElementById('figure').getBoundingClientRect();
        return [name, node.top >= frame.top && node.bottom <= frame.bottom
                && node.left >= frame.left && node.right <= frame.right];
    })()""")
    assert inside[1], inside
    (screenshots / "manual-step-26.png").write_bytes(page.screenshot(full_page=False))
