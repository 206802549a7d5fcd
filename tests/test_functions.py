"""The custom Functions against independent high-precision references, over the whole range."""

import math

import numpy as np
import pytest
import references as ref
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backpropcli import functions
from backpropcli.functions.graph import build
from backpropcli.functions.quad import quad
from backpropcli.functions.sinc import SERIES_CUTOFF, sinc
from backpropcli.functions.softplus import sigmoid, softplus

TINY = np.finfo(np.float64).tiny  # smallest normal: below it a true value has underflowed


def derivatives(fn, points):
    """f, f', f'' of an elementwise custom Function at many points, by reverse over reverse."""
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    y = fn(x)
    (d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), x)
    return y.detach().tolist(), d1.detach().tolist(), d2.tolist()


def assert_close(got, want, rtol, atol=0.0, what=""):
    assert math.isfinite(got), f"{what}: got {got}"
    assert abs(got - want) <= rtol * abs(want) + atol, f"{what}: got {got!r}, want {want!r}"


def _ulps_around(x, k=3):
    """x and its k nearest floats on either side: both sides of a branch crossover."""
    return [x] + [float(np.float64(x) + s * i * np.spacing(np.float64(x))) for i in range(1, k + 1) for s in (-1, 1)]


SINC_POINTS = sorted(set(
    [0.0, 5e-324, -5e-324, 2.2250738585072014e-308]
    + [s * 10.0 ** e for e in np.linspace(-300, -1, 60) for s in (1, -1)]
    + [s * 10.0 ** e for e in np.linspace(-8, 0, 161) for s in (1, -1)]  # where cancellation would bite
    + _ulps_around(SERIES_CUTOFF) + _ulps_around(-SERIES_CUTOFF)
    + [SERIES_CUTOFF * (1 + d) for d in (-1e-9, 1e-9, -1e-4, 1e-4)]
    + list(np.linspace(-50, 50, 1001))
    + [4.493409457909064, 7.725251836937707, 2.0, math.pi, 2 * math.pi]  # zeros of f' and of f
    + [s * 10.0 ** e for e in np.linspace(1, 6, 40) for s in (1, -1)]
))


def cancelling_terms(x):
    """For |x| >= 1, sinc's derivatives have zeros (tan x = x, ...) where relative error means
    nothing: there the bound is absolute, 1e-15 times the size 1/|x| of the cancelling terms.
    Below 1 the derivatives have no zero but x = 0 (f' ~ -x/3), so the error must be relative."""
    return 1 / abs(x) if abs(x) >= 1 else 0.0


def test_sinc_value_and_derivatives_across_the_range():
    f, d1, d2 = derivatives(sinc, SINC_POINTS)
    for i, x in enumerate(SINC_POINTS):
        scale = cancelling_terms(x)
        assert_close(f[i], ref.sinc(x, 0), 1e-12, 1e-15 * scale, f"f({x!r})")
        assert_close(d1[i], ref.sinc(x, 1), 1e-12, 1e-15 * scale, f"f'({x!r})")
        assert_close(d2[i], ref.sinc(x, 2), 1e-10, 1e-15 * scale, f"f''({x!r})")


def test_sinc_limits_at_zero():
    f, d1, d2 = derivatives(sinc, [0.0])
    assert (f[0], d1[0]) == (1.0, 0.0)
    assert d2[0] == pytest.approx(-1 / 3, rel=1e-15)


def test_no_nan_leaks_through_the_branches_even_in_third_derivatives():
    x = torch.tensor([0.0, SERIES_CUTOFF, 1e-300], dtype=torch.float64, requires_grad=True)
    g = x
    for _ in range(3):
        (g,) = torch.autograd.grad(sinc(x).sum() if g is x else g.sum(), x, create_graph=True)
    assert torch.isfinite(g).all()
    assert g[0].item() == 0.0  # f''' is odd


SOFTPLUS_POINTS = sorted(set(
    [0.0, 5e-324, -5e-324]
    + [s * 10.0 ** e for e in np.linspace(-300, 300, 121) for s in (1, -1)]
    + list(np.linspace(-50, 50, 1001))
    + [20.0, -20.0, 40.0, -40.0, 700.0, -700.0, 709.78, 710.0, 745.0, -745.0, 746.0, -746.0, 1000.0, -1000.0]
))


def test_softplus_value_and_derivatives_across_the_range():
    f, d1, d2 = derivatives(softplus, SOFTPLUS_POINTS)
    for i, x in enumerate(SOFTPLUS_POINTS):
        # an underflowing true value must come out as (nearly) 0, never nan
        assert_close(f[i], ref.softplus(x, 0), 1e-12, TINY, f"f({x!r})")
        assert_close(d1[i], ref.softplus(x, 1), 1e-12, TINY, f"f'({x!r})")
        assert_close(d2[i], ref.softplus(x, 2), 1e-10, TINY, f"f''({x!r})")


def test_softplus_second_derivative_at_40_and_1000():
    _, _, d2 = derivatives(softplus, [40.0, -40.0, 1000.0, -1000.0])
    assert d2[0] == pytest.approx(4.248354255291589e-18, rel=1e-14)  # sigmoid*(1-sigmoid) would give 0
    assert d2[1] == pytest.approx(4.248354255291589e-18, rel=1e-14)
    assert d2[2] == 0.0 and d2[3] == 0.0


@settings(max_examples=300, deadline=None)
@given(st.floats(-300, 6), st.sampled_from([1.0, -1.0]))
def test_sinc_property_wide_magnitudes(exponent, sign):
    x = sign * 10.0 ** exponent
    f, d1, d2 = derivatives(sinc, [x])
    scale = cancelling_terms(x)
    assert_close(f[0], ref.sinc(x, 0), 1e-12, 1e-15 * scale)
    assert_close(d1[0], ref.sinc(x, 1), 1e-12, 1e-15 * scale)
    assert_close(d2[0], ref.sinc(x, 2), 1e-10, 1e-15 * scale)


@settings(max_examples=300, deadline=None)
@given(st.floats(-300, 300), st.sampled_from([1.0, -1.0]))
def test_softplus_property_wide_magnitudes(exponent, sign):
    x = sign * 10.0 ** exponent
    f, d1, d2 = derivatives(softplus, [x])
    assert_close(f[0], ref.softplus(x, 0), 1e-12, TINY)
    assert_close(d1[0], ref.softplus(x, 1), 1e-12, TINY)
    assert_close(d2[0], ref.softplus(x, 2), 1e-10, TINY)


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(finite, finite, finite, finite, finite)
def test_quad_against_exact_rationals(x, y, a, b, c):
    value, grads, scales = ref.quad_exact(x, y, a, b, c)
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, y, a, b, c)]
    out = quad(*leaves)
    got = torch.autograd.grad(out, leaves)
    assert abs(out.item() - float(value)) <= 1e-12 * float(scales["value"]) + TINY
    for name, g in zip("xyabc", got):
        assert abs(g.item() - float(grads[name])) <= 1e-12 * float(scales[name]) + TINY, name


def test_quad_hessian_and_parameters_as_numbers_or_tensors():
    x = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, 0.5], dtype=torch.float64, requires_grad=True)
    out = quad(x, y, 1.0, 2.0, 3.0)  # plain numbers: no gradient for them
    gx, gy = torch.autograd.grad(out.sum(), (x, y), create_graph=True)
    assert gx.tolist() == [4.0, -3.0] and gy.tolist() == [8.0, -1.0]
    hxx, hxy = torch.autograd.grad(gx.sum(), (x, y), retain_graph=True)
    hyx, hyy = torch.autograd.grad(gy.sum(), (x, y))
    assert (hxx.tolist(), hxy.tolist(), hyx.tolist(), hyy.tolist()) == ([2, 2], [2, 2], [2, 2], [6, 6])
    a = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    (ga,) = torch.autograd.grad(quad(x, y, a, 2.0, 3.0).sum(), a)
    assert ga.item() == 1.0 + 4.0  # sum of x^2 over the points: broadcast gradient reduced


GRADCHECK_POINTS = [-30.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-8, 0.3, 0.999999, 1.0, 1.000001, 2.0, 7.5, 40.0]


@pytest.mark.parametrize("fn", [sinc, softplus, sigmoid])
def test_gradcheck_and_gradgradcheck(fn):
    x = torch.tensor(GRADCHECK_POINTS, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_quad_gradcheck_and_gradgradcheck_with_parameters():
    gen = torch.Generator().manual_seed(0)
    inputs = (torch.randn(8, dtype=torch.float64, generator=gen, requires_grad=True),
              torch.randn(8, dtype=torch.float64, generator=gen, requires_grad=True),
              *(torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.0, 2.0, 3.0)))
    assert torch.autograd.gradcheck(quad, inputs)
    assert torch.autograd.gradgradcheck(quad, inputs)


@pytest.mark.parametrize("fn,reference", [(sinc, lambda x: ref.sinc(x, 1)), (softplus, lambda x: ref.softplus(x, 1))])
def test_torch_func_grad_and_vmap(fn, reference):
    points = [-3.0, 0.0, 0.5, 2.0, 1.0]
    xs = torch.tensor(points, dtype=torch.float64)
    got = torch.func.vmap(torch.func.grad(fn))(xs)
    for x, g in zip(points, got.tolist()):
        assert g == pytest.approx(reference(x), rel=1e-13, abs=1e-300)


@pytest.mark.parametrize("fn,reference", [(sinc, lambda x: ref.sinc(x, 2)), (softplus, lambda x: ref.softplus(x, 2))])
def test_torch_func_hessian_forward_over_reverse(fn, reference):
    for x in [0.0, 0.5, 2.0, -7.0]:
        h = torch.func.hessian(fn)(torch.tensor(x, dtype=torch.float64))
        assert h.item() == pytest.approx(reference(x), rel=1e-12, abs=1e-300)


def test_torch_func_on_quad():
    def f(v):
        return quad(v[0], v[1], 1.0, 2.0, 3.0)

    v = torch.tensor([1.0, 1.0], dtype=torch.float64)
    assert torch.func.grad(f)(v).tolist() == [4.0, 8.0]
    assert torch.func.hessian(f)(v).tolist() == [[2.0, 2.0], [2.0, 6.0]]
    batch = torch.func.vmap(torch.func.grad(f))(torch.tensor([[1.0, 1.0], [2.0, 0.0]], dtype=torch.float64))
    assert batch.tolist() == [[4.0, 8.0], [4.0, 4.0]]


def test_report_graphs_fail_where_the_custom_functions_do_not():
    x = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    g = build(functions.get("sinc").graph, {"x": x})
    assert math.isnan(g.result.item())
    assert sinc(x).item() == 1.0
    big = torch.tensor([1000.0], dtype=torch.float64, requires_grad=True)
    g = build(functions.get("softplus").graph, {"x": big})
    assert math.isinf(g.result.item())
    (grad,) = torch.autograd.grad(g.result.sum(), big)
    assert math.isnan(grad.item())  # inf/inf in the report's backward
    assert softplus(big).item() == 1000.0


def test_report_graphs_use_the_reports_names_and_agree_where_they_work():
    x = torch.tensor([2.0], dtype=torch.float64)
    g = build(functions.get("sinc").graph, {"x": x})
    assert list(g.nodes) == ["x", "v1", "v2", "v3"]
    assert g["v1"].item() == 0.5 and g["v2"].item() == math.sin(2.0)
    q = build(functions.get("quad").graph, {n: torch.tensor([v], dtype=torch.float64)
                                            for n, v in dict(x=1.0, y=1.0, a=1.0, b=2.0, c=3.0).items()})
    assert [n for n in q.nodes if n.startswith("v")] == ["v1", "v2", "v3", "v4", "v5", "v6"]
    assert q.result.item() == 6.0
    s = build(functions.get("softplus").derivative_graph, {"x": torch.tensor([0.5], dtype=torch.float64)})
    assert [n for n in s.nodes if n.startswith("v")] == ["v1", "v2", "v3", "v4"]
    assert s.result.item() == pytest.approx(ref.softplus(0.5, 1), rel=1e-15)


@pytest.mark.parametrize("name", ["sinc", "softplus"])
def test_package_reference_agrees_with_the_test_reference(name):
    spec = functions.get(name)
    test_ref = ref.sinc if name == "sinc" else ref.softplus
    for x in [0.0, 1e-200, 1e-5, 0.5, 1.0, 2.0, -13.0, 1e6, 1e300 if name == "softplus" else 12345.0]:
        r = spec.reference({"x": x}, {}, 2)
        assert r.value == pytest.approx(test_ref(x, 0), rel=1e-15, abs=1e-300)
        assert r.gradient["x"] == pytest.approx(test_ref(x, 1), rel=1e-15, abs=1e-300)
        assert r.hessian[0][0] == pytest.approx(test_ref(x, 2), rel=1e-15, abs=1e-300)


def test_unknown_function_lists_the_known_ones():
    from backpropcli.errors import InputError

    with pytest.raises(InputError, match="known functions: sinc, quad, softplus"):
        functions.get("tanh")


@settings(max_examples=100, deadline=None)
@given(finite, finite, finite, finite, finite)
def test_quad_hessian_property_exact(x, y, a, b, c):
    xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, y)]
    gx, gy = torch.autograd.grad(quad(*xs, a, b, c), xs, create_graph=True)
    rows = [torch.autograd.grad(g, xs, retain_graph=True) for g in (gx, gy)]
    got = [[v.item() for v in row] for row in rows]
    assert got == [[2 * a, b], [b, 2 * c]]  # exact: each entry is one rounding-free product


moderate = st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=6)


@settings(max_examples=30, deadline=None)
@given(moderate)
def test_gradcheck_and_gradgradcheck_property(points):
    for fn in (sinc, softplus):
        x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))
    y = torch.tensor(points[::-1], dtype=torch.float64, requires_grad=True)
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.5, -1.5, 2.0)]
    # quad's values reach 1e6 here: allow gradcheck's finite differences their rounding error
    atol = max(1e-5, 10 * 1.1e-16 * float(quad(x, y, *params).detach().abs().max()) / 1e-6)
    assert torch.autograd.gradcheck(quad, (x, y, *params), atol=atol)


@pytest.mark.parametrize("x", [0.0, 1e-9, 1e-3, 0.5, 0.999, 1.0, 2.0, -7.5, 40.0])
def test_third_derivatives_stay_finite_and_right(x):
    """Beyond the accuracy goals (which stop at f''), the towers of Functions end in traced
    formulas for f'''; they must still be right, and finite at the singular point."""
    for fn, reference, rel in ((sinc, ref.sinc, 1e-7), (softplus, ref.softplus_third, 1e-9)):
        t = torch.tensor([x], dtype=torch.float64, requires_grad=True)
        g = fn(t)
        for _ in range(3):
            (g,) = torch.autograd.grad(g.sum(), t, create_graph=True)
        want = reference(x, 3) if fn is sinc else reference(x)
        assert math.isfinite(g.item())
        assert g.item() == pytest.approx(want, rel=rel, abs=1e-12)


def test_chunks_run_on_one_thread_and_agree_with_the_whole_tensor():
    """Chunked over several chunks (and a ragged last one), each kernel gives bit for bit what it
    gives on the whole tensor, its chunks see one intra-op thread, and the count is restored."""
    from backpropcli.functions import elementwise, sinc, softplus

    x = torch.linspace(-800, 800, 3 * elementwise.CHUNK + 17, dtype=torch.float64)
    x[::1000] = 0.0
    seen = []

    def spy(kernel):
        def run(t):
            seen.append(torch.get_num_threads())
            return kernel(t)
        return run

    before = torch.get_num_threads()
    for kernel in (sinc._value_kernel, sinc._prime_kernel, sinc._second_kernel,
                   softplus.sigmoid_value, softplus._slope_kernel):
        assert torch.equal(elementwise.chunked(spy(kernel), (x,)), kernel(x))
    assert seen and set(seen) == {1} and torch.get_num_threads() == before


def test_quad_second_derivative_with_one_row_of_the_hessian_unmaterialised():
    """QuadGrad's backward gets None for the output a Hessian row does not use (no tensor of
    zeros): each row is still [2a, b] / [b, 2c], and for tensor a, b, c the mixed derivatives."""
    from backpropcli.functions.quad import quad

    x = torch.tensor([0.5, -1.5], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([2.0, 0.25], dtype=torch.float64, requires_grad=True)
    a, b, c = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.5, -2.0, 3.0))
    dx, dy = torch.autograd.grad(quad(x, y, a, b, c).sum(), (x, y), create_graph=True)
    row_x = torch.autograd.grad(dx.sum(), (x, y, a, b, c), allow_unused=True, retain_graph=True)
    assert row_x[0].tolist() == [3.0, 3.0] and row_x[1].tolist() == [-2.0, -2.0]
    assert row_x[2].item() == 2 * x.sum().item() and row_x[3].item() == y.sum().item() and row_x[4].item() == 0
    row_y = torch.autograd.grad(dy.sum(), (x, y, c))
    assert row_y[0].tolist() == [-2.0, -2.0] and row_y[1].tolist() == [6.0, 6.0]
    assert row_y[2].item() == 2 * y.sum().item()
