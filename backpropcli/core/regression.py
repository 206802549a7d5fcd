"""Part A of the report: linear regression trained by plain gradient descent with autograd.

The loop is the report's: W and b are leaf tensors with requires_grad; each
step computes y_hat = W*x + b and the MSE (PyTorch's fused mse_loss, the same
numbers as the report's mean((y - y_hat)**2) in one pass), calls backward,
updates W and b under torch.no_grad(), and zeroes the grads. Around it sit the
diagnostics the report lacks: the least-squares optimum in closed form, the
largest stable learning rate 2/lambda_max, and an honest verdict.
"""

from __future__ import annotations

import csv
import math
import re
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backpropcli.config.models import RegressConfig
from backpropcli.errors import InputError
from backpropcli.functions.graph import ADD, MEAN, MUL, SQUARE, SUB, Graph

# A loss this many times the first one counts as an explosion: stop there.
EXPLOSION_FACTOR = 1e12
MAX_DATA_BYTES = 200_000_000
MAX_LINE = 1 << 16  # a row of two numbers is never longer
# Beyond this many steps "how many" stops meaning anything (iters is capped at 1e8).
MAX_STEPS = 1 << 62


@dataclass(frozen=True)
class Dataset:
    x: Sequence[float]  # a list, or a float64 array for a CSV's rows (8 bytes a value)
    y: Sequence[float]
    source: str  # "config" or the CSV path


@dataclass(frozen=True)
class Optimum:
    """The least-squares line: where plain GD would end after infinitely many steps."""

    W: float
    b: float
    loss: float
    # The residual is rounding noise: the data lie on a line up to float64's
    # resolution of y (the loss itself then differs from machine to machine).
    exact_fit: bool = False


@dataclass(frozen=True)
class Curvature:
    """The MSE is quadratic in (W, b) with the constant Hessian
    H = (2/N) [[sum x^2, sum x], [sum x, N]]. GD with step lr contracts the error
    by (1 - lr*lambda) along each eigenvector, so it is stable iff lr < 2/lambda_max."""

    h11: float
    h12: float
    h22: float
    lambda_min: float
    lambda_max: float

    @property
    def lr_max(self) -> float:
        return 2.0 / self.lambda_max


@dataclass
class RegressionResult:
    config: RegressConfig
    device: str
    n: int
    W0: float
    b0: float
    W: float
    b: float
    initial_loss: float
    final_loss: float
    losses: Sequence[float]  # array("d"), one loss per step
    optimum: Optimum
    distance: float  # |(W, b) - optimum|
    grad_norm: float  # |grad L| at the final (W, b)
    curvature: Curvature
    iters_run: int
    iters_to_converge: int | None  # plain GD in exact arithmetic at this lr; None if it never does
    converged: bool
    diverged: bool
    stopped_at: int | None  # 1-based iteration where a blow-up stopped the run
    data: Dataset | None = field(repr=False, default=None)

    @property
    def slowest_rate(self) -> float | None:
        """Why iters_to_converge is None: None when lr is too large (unstable); else lr·λmin, the
        factor by which the slowest direction shrinks each step (0: it does not shrink)."""
        if self.config.lr >= self.curvature.lr_max or not math.isfinite(self.curvature.lr_max):
            return None
        return self.config.lr * self.curvature.lambda_min

    @property
    def verdict(self) -> str:
        if self.diverged:
            return "diverged"
        if self.converged:
            return "converged"
        # the running sum of all gradients is a heavy ball without friction: it circles the
        # optimum for ever (or blows up, caught above); more steps do not help
        return "not converged yet" if self.config.zero_grad else "oscillates (grads accumulate): never converges"


def loss_graph(g: Graph) -> str:
    """One iteration's loss as a graph, L = mean((y - (W·x + b))²): what a trace walks."""
    g.op("Wx", "W·x", MUL, "W", "x")
    g.op("y_hat", "Wx + b", ADD, "Wx", "b")
    g.op("r", "y - y_hat", SUB, "y", "y_hat")
    g.op("s", "r²", SQUARE, "r")
    g.op("L", "mean(s)", MEAN, "s")
    return "L"


# a plain decimal number: no 1_000, no Arabic-Indic or other non-ASCII digits, no hex, no nan/inf words
DECIMAL = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


class _CappedLines:
    """The lines of a text file, refusing past ``limit`` bytes (counted as read, so
    /dev/zero and pipes are stopped too): the file is never held whole."""

    def __init__(self, handle, limit: int):
        self.handle, self.limit, self.read = handle, limit, 0

    def __iter__(self):
        while True:
            # readline with a size: /dev/zero has no newline, a bare `for line in` would read forever
            line = self.handle.readline(MAX_LINE + 1)
            if not line:
                return
            if len(line) > MAX_LINE:
                if "\x00" in line:
                    raise UnicodeDecodeError("utf-8", b"\x00", 0, 1, "NUL byte")
                raise InputError(f"a line longer than {MAX_LINE} characters")
            self.read += len(line)
            if self.read > self.limit:
                raise OverflowError(self.limit)
            if "\x00" in line:
                raise UnicodeDecodeError("utf-8", b"\x00", 0, 1, "NUL byte")
            yield line


def read_csv(path: str | Path) -> tuple[array, array]:
    """Read a CSV with header x,y, row by row into float64 arrays (8 bytes a value).
    Errors name the file and the row."""
    source = Path(path)
    try:
        if source.is_dir():
            raise InputError(f"data file {source}: is a folder")
        with open(source, encoding="utf-8-sig", newline="") as handle:
            return _parse_rows(csv.reader(_CappedLines(handle, MAX_DATA_BYTES)), source)
    except FileNotFoundError:
        raise InputError(f"data file {source}: not found") from None
    except OverflowError:
        raise InputError(f"data file {source}: larger than {MAX_DATA_BYTES} bytes") from None
    except UnicodeDecodeError:
        raise InputError(f"data file {source}: not a UTF-8 text file") from None
    except InputError as exc:
        if str(exc).startswith("data file"):
            raise
        raise InputError(f"data file {source}: {exc}") from None
    except csv.Error as exc:
        raise InputError(f"data file {source}: not a CSV file ({exc})") from None
    except OSError as exc:
        raise InputError(f"data file {source}: cannot read ({exc.strerror or exc})") from None


def _parse_rows(rows, source: Path) -> tuple[array, array]:
    xs, ys = array("d"), array("d")
    header = None
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = row
            if [cell.strip().lower() for cell in row] != ["x", "y"]:
                raise InputError(f"data file {source}: header must be 'x,y', got {','.join(row)!r}")
            continue
        number = rows.line_num
        if len(row) != 2:
            raise InputError(f"data file {source}: row {number}: expected 2 values, got {len(row)}")
        for cell, column in zip(row, (xs, ys)):
            text = cell.strip()
            try:
                value = float(text)
            except ValueError:
                raise InputError(f"data file {source}: row {number}: {text!r} is not a number") from None
            if not math.isfinite(value):
                raise InputError(f"data file {source}: row {number}: {text!r} is not finite")
            if not DECIMAL.fullmatch(text):  # 1_000, Arabic-Indic digits: Python reads them, a CSV should not
                raise InputError(f"data file {source}: row {number}: {text!r} is not a plain decimal number")
            column.append(value)
    if header is None:
        raise InputError(f"data file {source}: empty (expected a header x,y and rows)")
    return xs, ys


def load_dataset(cfg: RegressConfig) -> Dataset:
    """The data named by the config (a CSV file wins over inline x, y), validated."""
    if cfg.data is not None:
        x, y = read_csv(cfg.data)
        source = cfg.data
    else:
        x, y, source = array("d", cfg.x), array("d", cfg.y), "config"
    where = "config" if source == "config" else f"data file {source}"
    if len(x) != len(y):
        raise InputError(f"{where}: x has {len(x)} values but y has {len(y)}")
    if len(x) < 2:
        raise InputError(f"{where}: need at least 2 rows, got {len(x)}")
    if min(x) == max(x):
        raise InputError(f"{where}: need at least 2 distinct x values to fit a line")
    return Dataset(x=x, y=y, source=source)


def _fsum(values) -> float:
    """math.fsum, but a sum beyond float64's range is ±inf, as any float sum would be
    (fsum raises OverflowError on x = [1e308, 1.7e308])."""
    values = list(values)
    try:
        return math.fsum(values)
    except OverflowError:
        scale = max(abs(v) for v in values)
        return scale * math.fsum(v / scale for v in values)


def _centred(v: Sequence[float]) -> tuple[float, list[float], float]:
    """(c, d, sum d) with c the rounded mean and d_i = v_i - c.

    Far from 0 (timestamps, x ~ 1e8 + k) the spread lives in the last digits of
    v; subtracting the mean first keeps it, where sums of raw v and v^2 round it
    away. c + (sum d)/n is the mean to about an ulp of the spread, not of |v|.
    """
    try:
        c = math.fsum(v) / len(v)
    except OverflowError:  # x = [1e308, 1.7e308]: the sum overflows, the mean does not
        scale = _pow2_scale(v)
        c = scale * (math.fsum(t / scale for t in v) / len(v))
    d = [t - c for t in v]
    return c, d, math.fsum(d)


def _pow2_scale(values: Sequence[float]) -> float:
    """A power of 2 near max |v| (exact to divide by), so squares neither overflow nor underflow."""
    top = max((abs(t) for t in values), default=0.0)
    # 2^1023 at most: 2^1024 (for |v| near 1.8e308) is beyond float64
    return math.ldexp(1.0, min(math.frexp(top)[1], 1023)) if top > 0 and math.isfinite(top) else 1.0


def _spread(x: Sequence[float]) -> tuple[float, list[float], float, float, float]:
    """(c, d, sum d, s, n*var/s^2): centred x, its scale s and its scaled sum of squared deviations."""
    n = len(x)
    c, d, sd = _centred(x)
    s = _pow2_scale(d)
    ds = [t / s for t in d]
    sdd = math.fsum(t * t for t in ds) - (sd / s) ** 2 / n
    return c, ds, sd, s, sdd


def curvature(x: Sequence[float]) -> Curvature:
    n = len(x)
    sxx = _fsum(v * v for v in x)
    sx = _fsum(x)
    h11, h12, h22 = 2 * sxx / n, 2 * sx / n, 2.0
    mean, half_gap = (h11 + h22) / 2, math.hypot((h11 - h22) / 2, h12)
    lam_max = mean + half_gap
    # det H = h11*h22 - h12^2 = 4 var(x): written that way it cancels to noise (even < 0) for x far
    # from 0, so it is taken from the centred data; lambda_min = det / lambda_max then has no
    # cancellation either
    _, _, _, s, sdd = _spread(x)
    det = 4 * (sdd / n) * s * s
    return Curvature(h11, h12, h22, lambda_min=det / lam_max, lambda_max=lam_max)


def least_squares(x: Sequence[float], y: Sequence[float]) -> Optimum:
    """Closed-form least squares, centred and scaled, in float64.

    Solving on the raw columns [x, 1] loses the intercept when x is far from 0
    (its condition number grows like mean(x)^2/var(x): at x ~ 1e8 a rank cut-off
    drops b altogether). Centred, W = sum(dx*dy)/sum(dx^2) has no cancellation
    beyond the data's own, and b = mean(y) - W*mean(x) is summed exactly from its
    parts, so only W's own rounding (times mean x) remains: the best float64 allows.
    """
    from fractions import Fraction

    n = len(x)
    cx, dx, sdx, s, sdd = _spread(x)
    cy, dy, sdy = _centred(y)
    t = _pow2_scale(dy)
    dys = [v / t for v in dy]
    sde = math.fsum(p * q for p, q in zip(dx, dys)) - (sdx / s) * (sdy / t) / n
    w = (sde / sdd) * (t / s)
    # b = mean(y) - W*mean(x) = cy + sdy/n - W*(cx + sdx/n), each product exact, one rounding at the end
    W = Fraction(w)
    b = float(Fraction(cy) + Fraction(sdy) / n - W * Fraction(cx) - W * Fraction(sdx) / n)
    # residuals in centred coordinates: y - (W x + b) = (dy - sdy/n) - W (dx - sdx/n)
    my, mx = sdy / n / t, sdx / n / s
    ws = w * s / t
    loss = math.fsum(((q - my) - ws * (p - mx)) ** 2 for p, q in zip(dx, dys)) / n * t * t
    return Optimum(W=w, b=b, loss=loss, exact_fit=is_rounding_level(loss, max(map(abs, y))))


def is_rounding_level(mse: float, y_scale: float) -> bool:
    """An MSE whose residuals are within a few dozen float64 ulps of y's size.

    Residuals of an exact line still come out as ~u·|y| (u = 2^-53) after the
    solve; which multiple of u is down to the CPU's summation order.
    """
    return mse <= (64 * 2.0**-53 * y_scale) ** 2


def iterations_to_converge(
    curv: Curvature, lr: float, start: tuple[float, float], optimum: Optimum, tol: float
) -> int | None:
    """Steps plain GD needs, in exact arithmetic, to come within tol*max(1,|optimum|).

    The error e = (W, b) - optimum obeys e_k = (I - lr*H)^k e_0. In the eigenbasis
    of H, |e_k|^2 = sum_i (1 - lr*lambda_i)^(2k) c_i^2, which decreases in k when
    every |1 - lr*lambda_i| < 1, so a bisection on k finds the first k that fits.
    """
    h11, h12, h22 = curv.h11, curv.h12, curv.h22
    e0 = (start[0] - optimum.W, start[1] - optimum.b)
    target = tol * max(1.0, math.hypot(optimum.W, optimum.b))
    # eigenvectors of [[h11, h12], [h12, h22]]: (lam - h22, h12) and (h12, lam - h11) both are one;
    # take the longer, which has no cancellation (for x far from 0, lam_max ~ h11 >> h22)
    coeffs = []
    for lam, axis in ((curv.lambda_max, 0), (curv.lambda_min, 1)):
        if h12 == 0:
            v = (1.0, 0.0) if axis == (0 if h11 >= h22 else 1) else (0.0, 1.0)
        else:
            p, q = (lam - h22, h12), (h12, lam - h11)
            v = p if math.hypot(*p) >= math.hypot(*q) else q
        norm = math.hypot(*v)
        v = (v[0] / norm, v[1] / norm)
        coeffs.append((lr * lam, e0[0] * v[0] + e0[1] * v[1]))

    def log_rate(step: float) -> float:
        # log|1 - lr*lam|; log1p keeps a tiny lr*lam (1e-32 at x ~ 1e8) from rounding to log(1) = 0
        return math.log1p(-step) if step < 1 else math.log(abs(1 - step)) if step != 1 else -math.inf

    def log_error(k: int) -> float:
        # log |e_k|, summed in log space: (1e308 * mu^k)^2 must not overflow
        logs = [2 * (math.log(abs(c)) + (k * log_rate(step) if k else 0.0))
                for step, c in coeffs if c != 0 and (k == 0 or step != 1)]
        if not logs:
            return -math.inf
        top = max(logs)
        return 0.5 * (top + math.log(math.fsum(math.exp(v - top) for v in logs)))

    if not all(math.isfinite(v) for v in (*e0, target, *(st for st, _ in coeffs), *(c for _, c in coeffs))):
        return None
    if target <= 0:
        return None
    log_target = math.log(target)
    if log_error(0) <= log_target:
        return 0
    if any(not 0 < step < 2 for step, c in coeffs if c != 0):
        return None  # a component that never shrinks: lr too large (or lr*lam underflowed to 0)
    hi = 1
    while log_error(hi) > log_target:
        hi *= 2
        if hi > MAX_STEPS:
            return None  # converges, but slower than any run could (see RegressionResult.slowest_rate)
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if log_error(mid) > log_target else (lo, mid)
    return hi


def as_tensor(values: Sequence[float], dtype, device: str = "cpu"):
    """A tensor of the values; a float64 array is viewed, not walked value by value."""
    import torch

    if isinstance(values, array) and len(values):
        return torch.frombuffer(values, dtype=torch.float64).to(dtype=dtype, device=device, copy=True)
    return torch.tensor(list(values), dtype=dtype, device=device)


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available here (use cpu or auto)")
    return name


def _check_fits(dtype: str, source: str, **tensors) -> None:
    """A data value beyond the dtype's range silently becomes inf: refuse it instead.
    (Values in a config are checked by the config model.)"""
    import torch

    for name, tensor in tensors.items():
        if not bool(torch.isfinite(tensor).all()):
            raise InputError(f"data file {source}: a value of {name} does not fit in {dtype} (largest "
                             f"{LARGEST[dtype]}); use --dtype float64 or rescale")


LARGEST = {"float32": "3.4e+38", "float64": "1.8e+308"}  # torch.finfo(dtype).max, as people write it


def _descend(cfg: RegressConfig, W, b, x, y, on_step) -> tuple[array, int | None]:
    """The report's loop; returns the loss before each update and where a blow-up stopped it."""
    import torch
    from torch.nn.functional import mse_loss

    losses = array("d")  # 8 bytes a step, not a 24-byte float object and its pointer
    stopped_at = None
    for step in range(1, cfg.iters + 1):
        y_hat = W * x + b
        # the report's (1/N) sum (y - y_hat)^2, as PyTorch's fused MSE: the same numbers
        # in one pass forward and one backward instead of three each
        loss = mse_loss(y_hat, y)
        loss.backward()
        value = loss.item()
        losses.append(value)
        if not math.isfinite(value) or value > EXPLOSION_FACTOR * max(losses[0], 1e-300):
            stopped_at = step
            break
        with torch.no_grad():
            W -= cfg.lr * W.grad
            b -= cfg.lr * b.grad
        if cfg.zero_grad:
            # gradients accumulate in .grad by default; without this, each step
            # would use the sum of all gradients so far
            W.grad.zero_()
            b.grad.zero_()
        if on_step is not None:
            on_step(step, value)

    return losses, stopped_at


def train(
    cfg: RegressConfig,
    on_step: Callable[[int, float], None] | None = None,
    data: Dataset | None = None,
) -> RegressionResult:
    """Run the report's gradient-descent loop and diagnose the outcome.

    ``on_step(iteration, loss)`` is called after each step (1-based), for
    progress bars and logs; the core itself never prints.
    """
    import torch
    from torch.nn.functional import mse_loss

    data = data or load_dataset(cfg)
    device = resolve_device(cfg.device)
    dtype = getattr(torch, cfg.dtype)
    x = as_tensor(data.x, dtype, device)
    y = as_tensor(data.y, dtype, device)
    W = torch.tensor(cfg.w0, dtype=dtype, device=device, requires_grad=True)
    b = torch.tensor(cfg.b0, dtype=dtype, device=device, requires_grad=True)
    _check_fits(cfg.dtype, data.source, x=x, y=y)

    losses, stopped_at = _descend(cfg, W, b, x, y, on_step)
    final_loss = mse_loss(W * x + b, y)
    gW, gb = torch.autograd.grad(final_loss, (W, b))
    optimum = least_squares(data.x, data.y)
    curv = curvature(data.x)
    w_end, b_end = W.item(), b.item()
    distance = math.hypot(w_end - optimum.W, b_end - optimum.b)
    final = final_loss.item()
    diverged = stopped_at is not None or (
        cfg.lr >= curv.lr_max and math.isfinite(final) and final > losses[0]
    )
    tolerance = cfg.tol * max(1.0, math.hypot(optimum.W, optimum.b))
    return RegressionResult(
        config=cfg,
        device=device,
        n=len(data.x),
        W0=cfg.w0,
        b0=cfg.b0,
        W=w_end,
        b=b_end,
        initial_loss=losses[0],
        final_loss=final,
        losses=losses,
        optimum=optimum,
        distance=distance,
        grad_norm=math.hypot(gW.item(), gb.item()),
        curvature=curv,
        iters_run=len(losses),
        iters_to_converge=iterations_to_converge(curv, cfg.lr, (cfg.w0, cfg.b0), optimum, cfg.tol),
        converged=not diverged and math.isfinite(distance) and distance <= tolerance,
        diverged=diverged,
        stopped_at=stopped_at,
        data=data,
    )
