"""80 columns is the design width: every command's default output fits it with the layout it has at
120 columns. Tables keep their header rows (none is stacked into a block per value), nothing is
wider than 80, and the line counts differ only by wrapped prose (legends, long summary rows).

The commands run through docs/generate.py's runner: the real CLI, with its consoles' width set."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "docs"))
import generate

COMMANDS = [
    "backprop regress",
    "backprop regress --trace",
    "backprop regress --no-zero-grad",
    "backprop regress --lr 0.5",
    "backprop grad sinc --x 2",
    "backprop grad sinc --x=-5:5:11",
    "backprop grad quad --x 1 --y 1",
    "backprop grad quad --x=-2:2:5 --y=-1:1:5",
    "backprop grad softplus --x=-1000,0.5,1000",
    "backprop grad sinc --x 2 --trace",
    "backprop grad sinc --x 2 --autograd-graph",
    "backprop grad 'x*sin(x)' --x 2 --trace",
    "backprop grad '(cos(x) - 1)/x**2' --x 1e-5",
    "backprop grad '(cos(x) - 1)/x**2' --x=1e-8:1:50",
    "backprop grad 'a*x**2 + b*x*y + c*y**2' --a 1 --b 2 --c 3 --x 1 --y 1 --trace",
    "backprop hessian softplus --x 0.5",
    "backprop hessian sinc --x 0",
    "backprop hessian quad --x 1 --y 1",
    "backprop hessian quad --x=-1:1:3 --y 2",
    "backprop hessian softplus --x 0.5 --trace",
    "backprop hessian 'x^3*y + e^x' --x 1 --y 2",
    "backprop manual examples/mlp_manual_buggy.py",
    "backprop manual examples/mlp_manual_buggy.py --trace",
    "backprop report",
]
WRAPPED_PROSE = 5  # lines a legend and a long summary row may gain by wrapping at 80


def _headers(lines: list[str]) -> list[str]:
    """Each table's header row, spaces normalised: the line above a rule under a header."""
    return [" ".join(lines[i - 1].split()) for i in range(1, len(lines))
            if set(lines[i].strip()) <= set("─━╇┡┩") and lines[i].strip() and lines[i - 1].strip()]


@pytest.fixture(scope="module")
def scratch():
    import backpropcli.functions  # noqa: F401  (warms torch's unary kernels first)

    with generate.scratch():
        yield


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_fits_80_columns_with_its_120_column_layout(scratch, command):
    narrow, code = generate.run(command, 80)
    wide, wide_code = generate.run(command, 120)
    assert code == wide_code
    at80, at120 = generate._trimmed(narrow), generate._trimmed(wide)
    too_wide = [line for line in at80 if len(line) > 80 and not line.startswith("error: ")]  # errors: one line
    assert not too_wide, f"{command} at 80 columns:\n" + "\n".join(too_wide)
    assert _headers(at80) == _headers(at120), f"{command}: a table is stacked at 80 columns:\n{narrow}"
    assert len(at120) <= len(at80) <= len(at120) + WRAPPED_PROSE, \
        f"{command}: {len(at80)} lines at 80 columns, {len(at120)} at 120:\n{narrow}"


def test_a_stacked_table_is_caught():
    """The check in the other direction: a table drawn stacked has no header row above a rule."""
    table = ["x   analytic   custom", "──────────────────────", "2   -0.43      -0.43"]
    stacked = ["x = 2", "  analytic  -0.43", "  custom    -0.43"]
    assert _headers(table) == ["x analytic custom"] and _headers(stacked) == []
