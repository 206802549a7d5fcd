"""Rendered tables as golden text from a fixed-width, colourless console."""

import pytest
from conftest import check_golden, render_plain

from backpropcli.config.models import RegressConfig
from backpropcli.core.regression import is_rounding_level, train
from backpropcli.present import terminal as render


def test_regression_table_golden():
    check_golden("regress.txt", render_plain(render.regression(train(RegressConfig()))))


def test_regression_advice():
    assert "2356 steps" in render.advice(train(RegressConfig()))
    assert "try --lr 0.108" in render.advice(train(RegressConfig(lr=0.5)))
    assert "never zeroed" in render.advice(train(RegressConfig(zero_grad=False)))


def test_a_rounding_level_residual_is_an_exact_fit():
    # the least-squares loss of the report's exact line, as two CPUs computed it
    for noise in (9.860761315e-32, 1.540743956e-32, 0.0):
        assert is_rounding_level(noise, 3.0)
    assert not is_rounding_level(1e-20, 3.0)  # a real residual of 1e-10 is not noise
    assert train(RegressConfig()).optimum.exact_fit
    noisy = train(RegressConfig(y=[0.0, -1.0, -2.0, -2.5]))
    assert not noisy.optimum.exact_fit and "exact fit" not in render_plain(render.regression(noisy))


def test_golden_comparison_tolerates_noise_only(tmp_path, monkeypatch):
    import conftest

    monkeypatch.setattr(conftest, "GOLDEN", tmp_path)
    (tmp_path / "g.txt").write_text("| 7.999999999926663 | ok |\n")
    check_golden("g.txt", "| 8.0 | ok |\n")  # the last digits of a finite difference
    for changed in ("| 8.1 | ok |\n", "| 8.0 | FAILED |\n", "| 8.0 | 1 | ok |\n"):
        with pytest.raises(AssertionError):
            check_golden("g.txt", changed)
