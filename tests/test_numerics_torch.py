"""The Functions under PyTorch's own test machinery, against references written here.

References: the n-th derivative of sin(x)/x by Leibniz's rule on sin(x)·x^-1, and of
softplus through the Stirling-number form of the sigmoid's derivatives, both in
mpmath with as many digits as their cancellation needs (50 significant digits left
over); quad in exact rationals. Nothing here calls the package's own references.
"""

import itertools
import math
from fractions import Fraction

import mpmath
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck
from torch.func import grad, hessian, jacfwd, jacrev, jvp, vmap

from backpropcli.functions.elementwise import UnsupportedTransform
from backpropcli.functions.quad import quad
from backpropcli.functions.sinc import sinc
from backpropcli.functions.softplus import softplus

U = 2.0 ** -53
D = torch.float64


def _digits(x: float) -> int:
    """Extra working digits: Leibniz's terms cancel like 1/|x|^(n+1) near 0 (n <= 4)."""
    if x == 0 or abs(x) >= 1:
        return 0
    return int(-math.log10(abs(x))) * 5 + 5


def sinc_ref(x: float, n: int) -> tuple[float, float]:
    """(f^(n)(x), scale): Leibniz on sin(x)·x^-1; the limit (-1)^(n/2)/(n+1) at 0.
    scale is the sum of the terms' sizes for |x| >= 1 (the yardstick near a root), else |f^(n)|."""
    if x == 0:
        v = 0.0 if n % 2 else (-1) ** (n // 2) / (n + 1)
        return v, abs(v)
    with mpmath.workdps(60 + _digits(x)):
        t = mpmath.mpf(x)
        terms = [mpmath.binomial(n, k) * mpmath.sin(t + k * mpmath.pi / 2)
                 * (-1) ** (n - k) * mpmath.factorial(n - k) / t ** (n - k + 1) for k in range(n + 1)]
        v = mpmath.fsum(terms)
        scale = mpmath.fsum(abs(term) for term in terms) if abs(x) >= 1 else abs(v)
        return float(v), float(scale)


def _stirling2(n: int, k: int) -> int:
    return sum((-1) ** (k - j) * math.comb(k, j) * j ** n for j in range(k + 1)) // math.factorial(k)


def softplus_ref(x: float, n: int) -> tuple[float, float]:
    """(f^(n)(x), scale) for f = ln(1 + e^x): f' = s = 1/(1 + e^-x) and, for k >= 1,
    s^(k) = sum_j (-1)^j j! S(k+1, j+1) s^(j+1) evaluated at -|x| (no 1 - s cancellation there),
    using s^(k)(x) = (-1)^(k+1) s^(k)(-x)."""
    with mpmath.workdps(60 + _digits(x)):
        t = mpmath.mpf(x)
        if n == 0:
            v = mpmath.log1p(mpmath.exp(t))
            return float(v), float(abs(v))
        if n == 1:
            v = 1 / (1 + mpmath.exp(-t))
            return float(v), float(v)
        k = n - 1
        s = 1 / (1 + mpmath.exp(abs(t)))  # s(-|x|)
        terms = [(-1) ** j * math.factorial(j) * _stirling2(k + 1, j + 1) * s ** (j + 1) for j in range(k + 1)]
        v = mpmath.fsum(terms)
        if t > 0 and k % 2 == 0:
            v = -v
        scale = mpmath.fsum(abs(term) for term in terms) if abs(x) >= 1 else abs(v)
        return float(v), float(scale)


BELOW, ABOVE = math.nextafter(1.0, 0.0), math.nextafter(1.0, 2.0)
CROSSINGS = [BELOW, 1.0, ABOVE, -BELOW, -1.0, -ABOVE]  # sinc's series and softplus's s'' branches meet at |x| = 1
SINC_POINTS = [0.0, 1e-300, -1e-300, 1e-8, -1e-8, 1e-3, 0.5, *CROSSINGS, 2.5, -7.25, 123.456, 1e6]
SOFTPLUS_POINTS = [0.0, 1e-300, -1e-300, 1e-8, -1e-8, 0.5, *CROSSINGS, 1.3169578969248166, 2.2924316695611777,
                   5.0, -20.0, 36.0, 40.0, -300.0, 700.0, 710.0, -710.0, 740.0]


def _nth(f, n):
    for _ in range(n):
        f = grad(f)
    return f


# float64 error relative to max(|truth|, scale) allowed at each order. Measured at these points:
# at most 1.9u up to order 2, 2.3u at order 3 and 3.6u at order 4 (autograd through the kernels)
TOL = {0: 8 * U, 1: 8 * U, 2: 8 * U, 3: 16 * U, 4: 16 * U}


def _close(got: float, want: float, scale: float, tol: float) -> bool:
    if not math.isfinite(want):
        return got == want
    return abs(got - want) <= tol * max(abs(want), scale) + 2 ** -1074


@pytest.mark.parametrize("name, f, ref, points", [("sinc", sinc, sinc_ref, SINC_POINTS),
                                                   ("softplus", softplus, softplus_ref, SOFTPLUS_POINTS)])
def test_torch_func_grad_to_fourth_order_against_mpmath(name, f, ref, points):
    bad = []
    xs = torch.tensor(points, dtype=D)
    for n in range(5):
        for x, got in zip(points, vmap(_nth(f, n))(xs).tolist()):
            want, scale = ref(x, n)
            if not _close(got, want, scale, TOL[n]):
                bad.append((x, n, got, want))
    assert not bad, bad


@pytest.mark.parametrize("name, f, ref, points", [("sinc", sinc, sinc_ref, SINC_POINTS),
                                                   ("softplus", softplus, softplus_ref, SOFTPLUS_POINTS)])
def test_hessian_and_reverse_over_reverse_against_mpmath(name, f, ref, points):
    xs = torch.tensor(points, dtype=D)
    h = vmap(hessian(f))(xs).tolist()
    leaf = xs.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(leaf).sum(), leaf, create_graph=True)
    (rr,) = torch.autograd.grad(g.sum(), leaf)
    for x, a, b in zip(points, h, rr.tolist()):
        want, scale = ref(x, 2)
        assert _close(a, want, scale, TOL[2]) and _close(b, want, scale, TOL[2]), (x, a, b, want)


def test_softplus_odd_derivatives_near_zero_and_subnormal_tails():
    # the numbers: f''' at 1e-300 is -1.25e-301 (was 0); f'' and f''' at 710 are +-4.47e-309 (were 0)
    f3 = _nth(softplus, 3)
    assert f3(torch.tensor(1e-300, dtype=D)).item() == pytest.approx(-1.25e-301, rel=1e-15)
    assert f3(torch.tensor(1e-8, dtype=D)).item() == pytest.approx(softplus_ref(1e-8, 3)[0], rel=4 * U)
    at710 = torch.tensor(710.0, dtype=D)
    assert _nth(softplus, 2)(at710).item() == pytest.approx(softplus_ref(710.0, 2)[0], rel=1e-12)
    assert f3(at710).item() == pytest.approx(softplus_ref(710.0, 3)[0], rel=1e-12)
    assert 0 < _nth(softplus, 2)(at710).item() < 1e-308


# ---- gradcheck / gradgradcheck with every optional check ---------------------------------------

CHECK_X = [0.0, 1e-8, 0.3, -0.9999, 1.0001, -2.5, 4.0]


def _noncontiguous(values):
    t = torch.tensor([[v, 99.0] for v in values], dtype=D)[:, 0]  # stride 2
    assert not t.is_contiguous()
    return t.requires_grad_(True)


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("f", [sinc, softplus], ids=["sinc", "softplus"])
def test_gradcheck_every_option(f, fast):
    for x in (torch.tensor(CHECK_X, dtype=D, requires_grad=True), _noncontiguous(CHECK_X)):
        assert gradcheck(f, (x,), check_forward_ad=True, check_backward_ad=True, check_batched_grad=True,
                         check_batched_forward_grad=True, check_undefined_grad=True, fast_mode=fast)
        assert gradgradcheck(f, (x,), check_fwd_over_rev=True, check_rev_over_rev=True, check_batched_grad=True,
                             check_undefined_grad=True, fast_mode=fast)


@pytest.mark.parametrize("fast", [False, True])
def test_gradcheck_quad_every_input(fast):
    x = _noncontiguous([0.5, -1.25, 2.0])
    y = torch.tensor([1.5, 0.25, -3.0], dtype=D, requires_grad=True)
    a, b, c = (torch.tensor(v, dtype=D, requires_grad=True) for v in (1.0, -2.0, 3.0))
    assert gradcheck(quad, (x, y, a, b, c), check_forward_ad=True, check_batched_grad=True,
                     check_batched_forward_grad=True, check_undefined_grad=True, fast_mode=fast)
    assert gradgradcheck(quad, (x, y, a, b, c), check_fwd_over_rev=True, check_batched_grad=True,
                         check_undefined_grad=True, fast_mode=fast)


# ---- quad: vmap over every subset, exact where exact, no spurious overflow -----------------------


def _quad_plain(x, y, a, b, c):
    return a * x * x + b * x * y + c * y * y


def test_quad_vmap_every_subset_of_inputs():
    base = [torch.tensor(v, dtype=D) for v in (0.5, -1.5, 1.0, 2.0, 3.0)]
    batch = [torch.tensor([v - 1, v, v + 0.5], dtype=D) for v in (0.5, -1.5, 1.0, 2.0, 3.0)]
    transforms = {
        "f": lambda f: f,
        "grad x": lambda f: grad(f, argnums=0),
        "grad all": lambda f: grad(f, argnums=(0, 1, 2, 3, 4)),
        "hessian xy": lambda f: jacrev(grad(f, argnums=(0, 1)), argnums=(0, 1)),
        "jacfwd x": lambda f: jacfwd(f, argnums=0),
    }
    for mask in itertools.product((0, 1), repeat=5):
        if not any(mask):
            continue
        args = [batch[i] if m else base[i] for i, m in enumerate(mask)]
        dims = tuple(0 if m else None for m in mask)
        for name, transform in transforms.items():
            got = torch.utils._pytree.tree_leaves(vmap(transform(quad), in_dims=dims)(*args))
            want = torch.utils._pytree.tree_leaves(vmap(transform(_quad_plain), in_dims=dims)(*args))
            assert all(torch.equal(g, w) for g, w in zip(got, want)), (mask, name)


def test_quad_no_intermediate_overflow():
    """Finite results whose direct evaluation overflows in between (2a·x with a = 1e308), against
    exact rationals, to 4 ulp of the terms' sizes (the terms cancel in some of them)."""

    def exact(x, y, a, b, c):
        x, y, a, b, c = map(Fraction, (x, y, a, b, c))
        return [(a * x * x, b * x * y, c * y * y), (2 * a * x, b * y), (b * x, 2 * c * y)]

    for args in [(0.25, 0.0, 1e308, 0.0, 0.0), (0.25, 1e-300, 1e308, 1.0, 1e300), (2.0, 2.0, 1e308, -1.7e308, 0.7e308),
                 (1e-200, 1e200, 1e300, 1e100, 0.0), (1e154, -1e154, 1.0, 2.0, 1.0),
                 (0.5, 0.5, 1.5e308, -1.5e308, 1.5e308)]:
        xs, ys = (torch.tensor(v, dtype=D, requires_grad=True) for v in args[:2])
        out = quad(xs, ys, *args[2:])
        got = [out.item(), *(g.item() for g in torch.autograd.grad(out, (xs, ys)))]
        for value, terms in zip(got, exact(*args)):
            scale = sum(abs(t) for t in terms)  # exact: it may exceed the float range
            assert math.isfinite(value) and abs(Fraction(value) - sum(terms)) <= 4 * Fraction(U) * scale, (args, got)


def test_quad_true_overflow_is_inf():
    x = torch.tensor(1e200, dtype=D, requires_grad=True)
    out = quad(x, x, 1.0, 2.0, 3.0)
    assert math.isinf(out.item())


# ---- dtypes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 2e-6), (torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)])
@pytest.mark.parametrize("name, f, ref", [("sinc", sinc, sinc_ref), ("softplus", softplus, softplus_ref)])
def test_low_precision_dtypes(dtype, tol, name, f, ref):
    xs = [0.0, 0.001, 0.5, -1.0, 2.5, -6.0]
    x = torch.tensor(xs, dtype=dtype, requires_grad=True)
    out = f(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    assert out.dtype == g.dtype == h.dtype == dtype
    for n, t in enumerate((out, g, h)):
        for xv, got in zip(x.detach().double().tolist(), t.double().tolist()):
            want, scale = ref(xv, n)
            assert abs(got - want) <= tol * max(abs(want), scale, 0.05), (n, xv, got, want)


def test_integers_and_numbers_promote_to_the_default_float_dtype():
    default = torch.get_default_dtype()
    for f in (sinc, softplus):
        for x in (2, 2.0, torch.tensor(2), torch.tensor([1, 2], dtype=torch.int32), torch.tensor(True)):
            assert f(x).dtype == default
    assert quad(torch.tensor(1), torch.tensor(2), 1, 2, 3).dtype == default
    assert quad(torch.tensor(1), torch.tensor(2), 1, 2, 3).item() == 17.0
    assert sinc(2.0).item() == pytest.approx(math.sin(2) / 2, rel=1e-6)


@pytest.mark.parametrize("f, args", [(sinc, (torch.tensor(1 + 1j),)),
                                     (softplus, (torch.tensor([1j], dtype=torch.complex128),)),
                                     (quad, (torch.tensor(1.0), torch.tensor(1j), 1.0, 2.0, 3.0)), (sinc, (2j,)),
                                     (quad, (torch.tensor(1.0), torch.tensor(1.0), 1j, 2.0, 3.0))])
def test_complex_input_is_refused_by_name(f, args):
    with pytest.raises(TypeError, match=r"(sinc|softplus|quad): .*complex"):
        f(*args)


# ---- PyTorch's silent failures: an error, never the wrong number --------------------------------


@pytest.mark.parametrize("f", [sinc, softplus, lambda x: quad(x, x, 1.0, 2.0, 3.0)], ids=["sinc", "softplus", "quad"])
def test_forward_over_forward_raises_instead_of_returning_zero(f):
    x = torch.tensor(0.7, dtype=D)
    one = torch.ones_like(x)
    for transform in (jacfwd(jacfwd(f)), jacfwd(hessian(f)),
                      lambda t: jvp(lambda u: jvp(f, (u,), (one,))[1], (t,), (one,))[1]):
        with pytest.raises(UnsupportedTransform, match="197867"):
            transform(x)
    # every other order of the transforms works: reverse over reverse, forward over reverse, reverse over forward
    want = sinc_ref(0.7, 2)[0] if f is sinc else None
    for transform in (jacrev(jacrev(f)), jacfwd(jacrev(f)), jacrev(jacfwd(f)), hessian(f)):
        got = transform(x).item()
        if want is not None:
            assert got == pytest.approx(want, rel=16 * U)


def test_compiled_func_grad_never_returns_the_inlined_forwards_nan():
    # torch.compile(torch.func.grad(sinc)) would inline the forward and drop the custom backward (nan at 0,
    # pytorch#193279/#192985). The forward refuses to be traced that way; with PyTorch 2.13 dynamo then
    # breaks the graph (warnings) and runs the transform eagerly: the right numbers. An error is acceptable
    # (another PyTorch may raise it), a wrong number is not.
    g = torch.compile(grad(sinc), backend="eager")
    for x, want in ((0.0, 0.0), (1e-8, -1e-8 / 3), (2.0, -0.43539777497999166)):
        try:
            value = g(torch.tensor(x, dtype=D)).item()
        except Exception:
            return
        assert value == pytest.approx(want, rel=1e-12, abs=0.0), x
