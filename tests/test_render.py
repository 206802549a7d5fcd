"""Rendered tables as golden text from a fixed-width, colourless console."""

from pathlib import Path

from backpropcli import render
from backpropcli.config import RegressConfig
from backpropcli.regression import train
from conftest import render_plain

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    expected = (GOLDEN / name).read_text()
    assert text == expected, f"rendering changed; if intended, update tests/golden/{name}"


def test_regression_table_golden():
    check_golden("regress.txt", render_plain(render.regression(train(RegressConfig()))))


def test_regression_advice():
    assert "2356 steps" in render.advice(train(RegressConfig()))
    assert "try --lr 0.108" in render.advice(train(RegressConfig(lr=0.5)))
    assert "never zeroed" in render.advice(train(RegressConfig(zero_grad=False)))
