"""Part A against an independent reference: a numpy float64 recurrence written here."""

import math

import numpy as np
import pytest

from backpropcli.config.models import RegressConfig
from backpropcli.core.regression import curvature, iterations_to_converge, least_squares, load_dataset, read_csv, train
from backpropcli.errors import InputError

X = np.array([1.0, 2.0, 3.0, 4.0])
Y = np.array([0.0, -1.0, -2.0, -3.0])


def numpy_gd(x, y, w, b, lr, iters, zero_grad=True):
    """Plain GD on the MSE with the gradient derived by hand:
    dL/dW = -2/N sum (y - Wx - b) x,  dL/db = -2/N sum (y - Wx - b)."""
    losses, gw_acc, gb_acc = [], 0.0, 0.0
    for _ in range(iters):
        r = y - (w * x + b)
        losses.append(np.mean(r * r))
        gw, gb = -2 * np.mean(r * x), -2 * np.mean(r)
        gw_acc, gb_acc = (gw, gb) if zero_grad else (gw_acc + gw, gb_acc + gb)
        w, b = w - lr * gw_acc, b - lr * gb_acc
    final = np.mean((y - (w * x + b)) ** 2)
    return w, b, losses, final


def test_report_numbers_float64_match_the_reference_recurrence():
    result = train(RegressConfig(dtype="float64"))
    w, b, losses, final = numpy_gd(X, Y, 0.3, -0.3, 0.01, 100)
    assert result.W == pytest.approx(w, rel=1e-12)
    assert result.b == pytest.approx(b, rel=1e-12)
    assert result.final_loss == pytest.approx(final, rel=1e-12)
    assert result.losses == pytest.approx(losses, rel=1e-12)
    # the published digits
    assert w == pytest.approx(-0.60648347, abs=1e-8)
    assert b == pytest.approx(-0.15698655, abs=1e-8)
    assert final == pytest.approx(0.22356566, abs=1e-8)
    assert losses[0] == pytest.approx(5.915, abs=1e-12)


def test_report_numbers_float32_within_1e_5():
    result = train(RegressConfig())  # the report's defaults: float32
    w, b, losses, final = numpy_gd(X, Y, 0.3, -0.3, 0.01, 100)
    assert len(result.losses) == 100
    assert abs(result.W - w) < 1e-5 and abs(result.b - b) < 1e-5
    assert abs(result.final_loss - final) < 1e-5
    assert np.max(np.abs(np.array(result.losses) - losses)) < 1e-5
    assert result.verdict == "not converged yet"
    assert not result.converged and not result.diverged


def test_without_zero_grad_the_gradients_accumulate():
    result = train(RegressConfig(dtype="float64", zero_grad=False))
    w, b, losses, _ = numpy_gd(X, Y, 0.3, -0.3, 0.01, 100, zero_grad=False)
    assert result.W == pytest.approx(w, rel=1e-10)
    assert result.b == pytest.approx(b, rel=1e-10)
    assert result.losses == pytest.approx(losses, rel=1e-10)


def test_optimum_and_curvature_against_closed_forms():
    opt = least_squares(list(X), list(Y))
    assert opt.W == pytest.approx(-1.0, abs=1e-12) and opt.b == pytest.approx(1.0, abs=1e-12)
    assert opt.loss < 1e-25
    # Hessian of the MSE in (W, b): (2/N) [[sum x^2, sum x], [sum x, N]]
    H = 2 / 4 * np.array([[30.0, 10.0], [10.0, 4.0]])
    lam = np.linalg.eigvalsh(H)
    curv = curvature(list(X))
    assert curv.lambda_max == pytest.approx(lam[1], rel=1e-14)
    assert curv.lambda_min == pytest.approx(lam[0], rel=1e-14)
    assert curv.lr_max == pytest.approx(2 / lam[1], rel=1e-14)


@pytest.mark.parametrize("lr,tol", [(0.01, 1e-3), (0.1, 1e-4), (0.05, 1e-6)])
def test_iterations_to_converge_matches_brute_force(lr, tol):
    opt = least_squares(list(X), list(Y))
    k = iterations_to_converge(curvature(list(X)), lr, (0.3, -0.3), opt, tol)
    w, b, k_brute = 0.3, -0.3, 0
    target = tol * math.hypot(opt.W, opt.b)
    while math.hypot(w - opt.W, b - opt.b) > target:
        r = Y - (w * X + b)
        w, b = w + lr * 2 * np.mean(r * X), b + lr * 2 * np.mean(r)
        k_brute += 1
    assert k == k_brute


def test_unstable_lr_never_converges_and_diverges():
    opt = least_squares(list(X), list(Y))
    assert iterations_to_converge(curvature(list(X)), 0.13, (0.3, -0.3), opt, 1e-3) is None
    result = train(RegressConfig(lr=0.5, iters=1000))
    assert result.diverged and result.stopped_at is not None and result.stopped_at < 1000
    assert len(result.losses) == result.stopped_at
    assert result.verdict == "diverged"


def test_slow_divergence_just_above_the_limit_is_flagged():
    lr = curvature(list(X)).lr_max * 1.02
    result = train(RegressConfig(lr=lr, iters=50, dtype="float64"))
    assert result.stopped_at is None and result.diverged


def test_converged_config_converges():
    result = train(RegressConfig(lr=0.1, iters=500, dtype="float64", tol=1e-4))
    assert result.converged and result.verdict == "converged"
    assert result.iters_to_converge == 309


def test_csv_data(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n0,1\n1,3\n2,5\n")
    data = load_dataset(RegressConfig(data=str(path)))
    assert list(data.x) == [0.0, 1.0, 2.0] and list(data.y) == [1.0, 3.0, 5.0]
    result = train(RegressConfig(data=str(path), lr=0.1, iters=2000, dtype="float64", tol=1e-6))
    assert result.W == pytest.approx(2.0, abs=1e-5) and result.b == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("a,b\n1,2\n", "header must be 'x,y'"),
    ("x,y\n1,2\n3,abc\n", "row 3: 'abc' is not a number"),
    ("x,y\n1,2\n3,nan\n", "row 3: 'nan' is not finite"),
    ("x,y\n1,2\n3,inf\n", "row 3: 'inf' is not finite"),
    ("x,y\n1,2,3\n", "row 2: expected 2 values"),
    ("x,y\n1,2\n", "need at least 2 rows"),
    ("x,y\n1,2\n1,3\n", "2 distinct x values"),
])
def test_csv_errors_name_the_problem(tmp_path, text, message):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        load_dataset(RegressConfig(data=str(path)))


def test_missing_and_binary_data_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_csv(tmp_path / "nope.csv")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\x89PNG\x00\xff\xfe")
    with pytest.raises(InputError, match="not a"):
        read_csv(binary)
