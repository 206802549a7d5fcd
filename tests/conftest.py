import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner


@pytest.fixture
def runner():
    return CliRunner()


def render_plain(renderable, width: int = 100) -> str:
    """Render with a fixed-width, colourless console: stable golden text."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False,
                      highlight=False, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


# ---- golden text ----------------------------------------------------------------------------------
# Convention (see tests/README.md): a golden file pins layout and meaning, never
# rounding noise. Numbers in it are compared with a relative tolerance, so the
# last digits of a finite difference or a summation order cannot fail the suite
# on another CPU; everything between the numbers (and the layout, up to runs of
# spaces that a wider number shifts) must match exactly.

GOLDEN = Path(__file__).parent / "golden"
NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")
GOLDEN_RTOL = 1e-8
# an error near float64's roundoff (max abs err 4.2e-17 of a matmul, 1e-15 of a sum) is the order of the
# threads that ran it: two numbers both this small are the same noise
ROUNDOFF = 1e-12


def _split(text: str) -> tuple[list[str], list[str]]:
    numbers = NUMBER.findall(text)
    words = [re.sub(r"[ ─━]+", " ", part) for part in NUMBER.split(text)]
    return words, numbers


def same_number(a: str, b: str, rtol: float = GOLDEN_RTOL) -> bool:
    x, y = float(a), float(b)
    return x == y or abs(x - y) <= rtol * max(abs(x), abs(y)) or max(abs(x), abs(y)) < ROUNDOFF


def check_golden(name: str, text: str) -> None:
    """``text`` equals tests/golden/``name`` up to the tolerance on numbers."""
    expected = (GOLDEN / name).read_text()
    words, numbers = _split(text)
    want_words, want_numbers = _split(expected)
    hint = f"rendering changed; if intended, update tests/golden/{name}\n--- got ---\n{text}"
    assert words == want_words and len(numbers) == len(want_numbers), hint
    for got, want in zip(numbers, want_numbers):
        assert same_number(got, want), f"{got} != {want} in tests/golden/{name}\n{hint}"


# ---- the explorer's browser tests: say plainly when they did not run -----------------------------


def pytest_terminal_summary(terminalreporter):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "test_explorer_browser" in r.nodeid]
    if skipped:
        terminalreporter.write_line(
            f"browser tests SKIPPED ({len(skipped)}): no Chromium found, so the explorer page was not opened in a "
            "browser; install one (apt-get install chromium) or set BACKPROP_BROWSER=/path/to/chrome",
            yellow=True, bold=True)
