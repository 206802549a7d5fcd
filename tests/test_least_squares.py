"""Least squares and the convergence diagnostics on data far from 0, against exact rationals."""

import math
from fractions import Fraction

import pytest

from backpropcli.config.models import RegressConfig
from backpropcli.core.regression import curvature, iterations_to_converge, least_squares, train

U = 2.0 ** -53
OFFSETS = [0.0, 1e6, 1e8, 1e10, 1e12]


def exact_fit(x, y):
    """(W, b, var) of the least-squares line in exact rational arithmetic on the floats given."""
    n = len(x)
    X, Y = [Fraction(v) for v in x], [Fraction(v) for v in y]
    mx, my = sum(X) / n, sum(Y) / n
    sxx = sum((v - mx) ** 2 for v in X)
    w = sum((p - mx) * (q - my) for p, q in zip(X, Y)) / sxx
    return w, my - w * mx, sxx / n


def data(offset, noisy=True):
    x = [offset + k for k in range(10)]
    noise = [0.0, 0.125, -0.25, 0.5, 0.0, -0.375, 0.25, 0.0, -0.125, 0.375] if noisy else [0.0] * 10
    return x, [-v + 1 + e for v, e in zip(x, noise)]


@pytest.mark.parametrize("offset", OFFSETS)
def test_exact_line_far_from_zero(offset):
    # y = -x + 1 exactly: W = -1, b = 1 (gelsd on [x, 1] gave b = -1e-8 at 1e8)
    opt = least_squares(*data(offset, noisy=False))
    assert (opt.W, opt.b, opt.loss) == (-1.0, 1.0, 0.0)


@pytest.mark.parametrize("offset", OFFSETS)
def test_noisy_line_against_exact_rationals(offset):
    x, y = data(offset)
    w, b, _ = exact_fit(x, y)
    opt = least_squares(x, y)
    assert abs(Fraction(opt.W) - w) <= 4 * U * abs(w)
    # b = mean(y) - W mean(x): W's own rounding, times mean(x), is the floor any float64 W allows
    mean_x = abs(sum(Fraction(v) for v in x) / len(x))
    assert abs(Fraction(opt.b) - b) <= 4 * U * (abs(b) + abs(w) * mean_x)
    residual = sum((Fraction(q) - w * Fraction(p) - b) ** 2 for p, q in zip(x, y)) / len(x)
    assert opt.loss == pytest.approx(float(residual), rel=1e-12)


@pytest.mark.parametrize("offset", OFFSETS)
def test_curvature_far_from_zero(offset):
    x, _ = data(offset)
    _, _, var = exact_fit(*data(offset))
    curv = curvature(x)
    # det H = 4 var(x) exactly and lambda_min = det / lambda_max: to a few ulp (it was noise, even < 0, at 1e8)
    assert float(Fraction(curv.lambda_min) * Fraction(curv.lambda_max) / (4 * var)) == pytest.approx(1.0, rel=1e-14)


def test_steps_needed_far_from_zero_say_why():
    x, y = data(1e8, noisy=False)
    cfg = RegressConfig(x=x, y=y, lr=1e-17, iters=3)
    result = train(cfg)
    assert result.optimum.b == 1.0 and result.optimum.W == -1.0
    assert result.iters_to_converge is None  # ~1e33 steps: stable, but no run gets there
    from backpropcli.present.terminal.regress import steps_note

    assert result.slowest_rate == pytest.approx(1e-17 * result.curvature.lambda_min)
    assert "lr too large" not in steps_note(result) and "2^62" in steps_note(result)
    too_big = train(RegressConfig(x=x, y=y, lr=2.5 * result.curvature.lr_max, iters=3))
    assert too_big.slowest_rate is None and steps_note(too_big) == "lr too large"


def test_steps_needed_are_counted_when_slow_but_countable():
    # at 1e4 the slow direction shrinks by ~1e-10 per step: ~1e11 steps, counted, not "never"
    x, y = data(1e4, noisy=False)
    curv = curvature(x)
    lr = 0.9 * curv.lr_max
    opt = least_squares(x, y)
    k = iterations_to_converge(curv, lr, (0.0, 0.0), opt, 1e-6)
    assert k is not None
    # the slow mode alone predicts k within a step: (1 - lr lam_min)^k |c| = tol*|opt| roughly
    rate = -math.log1p(-lr * curv.lambda_min)
    assert 0.5 < k * rate / math.log(1 / 1e-6) < 2.5


def test_regress_cli_far_from_zero_reports_the_true_optimum(tmp_path, runner):
    import json

    from backpropcli.cli import app

    x, y = data(1e8, noisy=False)
    path = tmp_path / "far.csv"
    path.write_text("x,y\n" + "".join(f"{p!r},{q!r}\n" for p, q in zip(x, y)))
    result = runner.invoke(app, ["regress", "--data", str(path), "--lr", "1e-17", "--iters", "3", "--json"])
    payload = json.loads(result.stdout)
    assert payload["optimum"]["W"] == -1.0 and payload["optimum"]["b"] == 1.0
