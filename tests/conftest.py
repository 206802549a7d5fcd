import io

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
