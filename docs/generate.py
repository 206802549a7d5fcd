"""Shown output that cannot go stale: every `console` block in README.md and docs/*.md is run.

A block is a fenced code block whose info string starts with ``console``::

    ```console
    $ backprop grad sinc --x 2
    (the output, written by this tool)
    $ echo $?
    0
    ```

Each ``$ `` line is a command; every other line of the block is its output, replaced by what
the command prints now at 80 columns (stdout and stderr as a terminal shows them, interleaved).
``$ backprop ...`` runs the real CLI in this process (the Typer app, its consoles set to the
width), so one torch import serves every block; ``| ...`` after it pipes the output through the
shell (``| jq .W``); ``$ echo $?`` prints the previous command's exit code. The info string may
add ``head=N`` or ``tail=N`` to show only the first or last N lines of the block's last command
(``...`` marks the cut). Commands run in a scratch folder that holds the repository's
``examples/`` and ``configs/``, so the files they write never land in the checkout.

    python docs/generate.py            rewrite every block whose output changed (make docs)
    python docs/generate.py --check    exit 1 and name each stale block (make test runs the same
                                       check: tests/test_docs.py)

Whole pages are generated too: docs/check-codes.md from the finding-code registry
(backpropcli/doctor/codes.py), so a code's text lives in one place (GENERATED below).

A block counts as unchanged when its text matches up to numbers within a relative 1e-8, the
rule tests/conftest.py `check_golden` applies to goldens: a finite difference's last digits on
another CPU neither fail the check nor rewrite the page.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 80  # the design width: every shown output is what an 80-column terminal shows
PAGES = ("README.md", "docs/*.md")
FENCE = re.compile(r"^```console(?P<options>[^\n]*)\n(?P<body>.*?)^```$", re.M | re.S)
NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")  # as tests/conftest.py reads numbers
RTOL = 1e-8
ROUNDOFF = 1e-12  # two numbers both this small are the same rounding noise (a matmul's 4.2e-17 error)
CUT = "..."


@dataclass
class Block:
    path: Path
    start: int  # offsets of the body in the page's text
    end: int
    options: dict[str, int]
    body: str

    @property
    def commands(self) -> list[str]:
        return [line[2:] for line in self.body.splitlines() if line.startswith("$ ")]

    def where(self) -> str:
        line = self.path.read_text()[: self.start].count("\n") + 1
        return f"{self.path.relative_to(ROOT)}:{line}"


def pages(root: Path = ROOT) -> list[Path]:
    found: list[Path] = []
    for pattern in PAGES:
        found += sorted(root.glob(pattern))
    return found


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    found = []
    for match in FENCE.finditer(text):
        options = {}
        for word in match.group("options").split():
            key, _, value = word.partition("=")
            if key not in ("head", "tail") or not value.isdigit():
                raise ValueError(f"{path}: unknown console block option {word!r} (head=N or tail=N)")
            options[key] = int(value)
        found.append(Block(path, match.start("body"), match.end("body"), options, match.group("body")))
    return found


# ---- running a command ----------------------------------------------------------------------------


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A working folder with the repository's examples/ and configs/ in it (as links), and the
    consoles' width fixed for the run; the folder and the widths are restored afterwards."""
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="backprop-docs-") as folder:
        for name in ("examples", "configs"):
            (Path(folder) / name).symlink_to(ROOT / name)
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(here)


@contextlib.contextmanager
def width(columns: int) -> Iterator[None]:
    from backpropcli.cli import common

    saved = [(console, console._width) for console in (common.stdout, common.stderr)]
    for console, _ in saved:
        console.width = columns
    try:
        yield
    finally:
        for console, value in saved:
            console._width = value


def _split_pipe(command: str) -> tuple[str, str | None]:
    """"backprop regress --json | jq .W" -> ("backprop regress --json", "jq .W"): the first | outside quotes."""
    quote = None
    for i, char in enumerate(command):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "|":
            return command[:i].rstrip(), command[i + 1:].strip()
    return command, None


def run(command: str, columns: int = WIDTH) -> tuple[str, int]:
    """What `command` prints (stdout and stderr interleaved) and its exit code, at `columns`."""
    from typer.testing import CliRunner

    from backpropcli.cli import app

    head, pipe = _split_pipe(command)
    words = shlex.split(head)
    if not words or words[0] != "backprop":
        raise ValueError(f"a shown command starts with 'backprop': {command!r}")
    with width(columns):
        result = CliRunner().invoke(app, words[1:], env={"COLUMNS": str(columns)}, catch_exceptions=False)
    text = result.output
    if pipe is not None:
        done = subprocess.run(pipe, shell=True, input=result.stdout, capture_output=True, text=True, check=False)
        text = done.stdout + done.stderr
    return text, result.exit_code


def _trimmed(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip("\n").splitlines()]


def render(block: Block, columns: int = WIDTH) -> str:
    """The block's body as the commands print it now."""
    lines: list[str] = []
    last_code = 0
    commands = block.commands
    for index, command in enumerate(commands):
        lines.append(f"$ {command}")
        if command.strip() == "echo $?":
            lines.append(str(last_code))
            continue
        text, last_code = run(command, columns)
        out = _trimmed(text)
        if index == len(commands) - 1 or commands[index + 1].strip() == "echo $?":
            if "head" in block.options and len(out) > block.options["head"]:
                out = out[: block.options["head"]] + [CUT]
            if "tail" in block.options and len(out) > block.options["tail"]:
                out = [CUT] + out[-block.options["tail"]:]
        lines += out
    return "\n".join(lines) + "\n"


# ---- comparing as the goldens are compared -------------------------------------------------------


def _words_numbers(text: str) -> tuple[list[str], list[str]]:
    numbers = NUMBER.findall(text)
    words = [re.sub(r"[ ─━]+", " ", part) for part in NUMBER.split(text)]
    return words, numbers


def same(shown: str, fresh: str, rtol: float = RTOL) -> bool:
    """Equal text between the numbers, and every number within `rtol` (tests/conftest.py's rule)."""
    (w1, n1), (w2, n2) = _words_numbers(shown), _words_numbers(fresh)
    if w1 != w2 or len(n1) != len(n2):
        return False
    for a, b in zip(n1, n2):
        x, y = float(a), float(b)
        if not (x == y or abs(x - y) <= rtol * max(abs(x), abs(y)) or max(abs(x), abs(y)) < ROUNDOFF):
            return False
    return True


def stale(root: Path = ROOT) -> Iterator[tuple[Block, str]]:
    """Each block whose shown output differs from what its commands print now, with the fresh text."""
    import backpropcli.functions  # noqa: F401  (warms torch's unary kernels: pytorch/pytorch#188792)

    with scratch():
        for path in pages(root):
            for block in blocks(path):
                fresh = render(block)
                if not same(block.body, fresh):
                    yield block, fresh


# ---- whole pages written from the code ------------------------------------------------------------

CODES_PAGE = "docs/check-codes.md"


def _cell(text: str) -> str:
    """A template as a table cell: its {fields} in italics (filled from the finding), pipes escaped;
    a fix that is only a field is the finding's own advice."""
    if re.fullmatch(r"\{\w+\}", text):
        return "the finding says, for the case at hand"
    return re.sub(r"\{(\w+)\}", r"*\1*", text).replace("|", "\\|")


def codes_page() -> str:
    """docs/check-codes.md: every registered code, its severity, what it means and the fix."""
    from backpropcli.doctor.codes import CODES, SEVERITIES

    lines = ["# The finding codes", "",
             "`backprop check` (and `manual`, the Python API) says what it finds by these codes; `grad` and",
             "`hessian` use the ones about points without a truth (their doc begins *grad, hessian*).", "",
             "Written by `make docs` (docs/generate.py) from the registry, `backpropcli/doctor/codes.py`, the",
             "only place a code's text lives; tests/test_docs.py fails when this page is not what the registry",
             "says. Severity **error**: a first derivative (reverse or forward mode) is wrong, so the verdict",
             "is FAILED (exit 1). **warning**: something to know that does not make a gradient wrong (a",
             "capability missing, a surrogate gradient, a second derivative). **info**: said, never counted.",
             "A word in *italics* is filled in from the finding (the input's name, a shape, the factor, the",
             "condition the wrong elements share, a hint for the case at hand).", "",
             "| code | severity | what it means | the fix |", "|---|---|---|---|"]
    for severity in SEVERITIES:
        for c in CODES.values():
            if c.severity == severity:
                lines.append(f"| `{c.code}` | {c.severity} | {_cell(c.doc)} | {_cell(c.fix)} |")
    return "\n".join(lines) + "\n"


GENERATED = {CODES_PAGE: codes_page}


def stale_pages(root: Path = ROOT) -> Iterator[tuple[Path, str]]:
    """Each generated page whose text differs from what the code writes now, with the fresh text."""
    for name, write in GENERATED.items():
        path, fresh = root / name, write()
        if not path.exists() or path.read_text() != fresh:
            yield path, fresh


def main(argv: list[str]) -> int:
    check = "--check" in argv
    pages_changed = list(stale_pages())
    for path, fresh in pages_changed:
        print(f"{'stale' if check else 'updated'}: {path.relative_to(ROOT)} (generated)")
        if not check:
            path.write_text(fresh)
    changed: dict[Path, list[tuple[Block, str]]] = {}
    for block, fresh in stale():
        changed.setdefault(block.path, []).append((block, fresh))
        print(f"{'stale' if check else 'updated'}: {block.where()}  $ {block.commands[0]}")
    if check:
        return 1 if changed or pages_changed else 0
    for path, found in changed.items():
        text = path.read_text()
        for block, fresh in sorted(found, key=lambda item: -item[0].start):  # from the end: offsets hold
            text = text[: block.start] + fresh + text[block.end:]
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
