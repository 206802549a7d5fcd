"""The one derivative engine: finite differences of any shape, one tolerance model, one gradcheck call.

Numbers are checked against derivatives written out by hand (independent of the code under
test); the wiring tests spy on the engine's single implementations and prove that grad, hessian
and check all go through them."""

import ast
import math
from pathlib import Path

import pytest
import torch

from backpropcli.core import finite_diff, gradcheck, tolerance

PACKAGE = Path(__file__).parent.parent / "backpropcli"
D = torch.float64


def test_partials_of_an_elementwise_function_match_the_derivative():
    x = torch.linspace(-3, 3, 101, dtype=D)
    for k, rel in ((0, 1e-9), (2, 1e-12)):
        (got,) = finite_diff.partials(lambda ts: (torch.sin(ts[0]) * ts[0],), [x], 0, extrapolations=k)
        want = torch.cos(x) * x + torch.sin(x)
        assert torch.allclose(got, want, rtol=0, atol=rel * 4), (k, float((got - want).abs().max()))


def test_partials_take_each_input_and_output_apart():
    x, y = torch.tensor([0.5, 2.0], dtype=D), torch.tensor([1.5, -1.0], dtype=D)

    def f(ts):
        a, b = ts
        return a * b, a.exp() + b

    d_x = finite_diff.partials(f, [x, y], 0, extrapolations=2)
    d_y = finite_diff.partials(f, [x, y], 1, extrapolations=2)
    assert torch.allclose(d_x[0], y, atol=1e-12) and torch.allclose(d_x[1], x.exp(), atol=1e-12)
    assert torch.allclose(d_y[0], x, atol=1e-12) and torch.allclose(d_y[1], torch.ones(2, dtype=D), atol=1e-12)


def test_directional_derivative_is_a_jacobian_vector_product_of_any_shape():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 4, generator=gen, dtype=D)
    W = torch.randn(4, 3, generator=gen, dtype=D)
    u = torch.randn(5, 4, generator=gen, dtype=D)
    (got,) = finite_diff.directional(lambda ts: (torch.tanh(ts[0] @ W),), [x, W], 0, u)
    want = (1 - torch.tanh(x @ W) ** 2) * (u @ W)  # J u written out by hand
    assert torch.allclose(got, want, rtol=0, atol=1e-11)
    v = torch.randn(4, 3, generator=gen, dtype=D)
    (along_w,) = finite_diff.directional(lambda ts: (torch.tanh(ts[0] @ ts[1]),), [x, W], 1, v)
    assert torch.allclose(along_w, (1 - torch.tanh(x @ W) ** 2) * (x @ v), rtol=0, atol=1e-11)


def test_a_zero_direction_has_a_zero_derivative():
    x = torch.ones(3, dtype=D)
    (got,) = finite_diff.directional(lambda ts: (ts[0] ** 2,), [x], 0, torch.zeros(3, dtype=D))
    assert bool((got == 0).all())


def test_the_tolerance_model_by_kind_dtype_and_order():
    assert tolerance.rtol("float64") == 1e-10 and tolerance.rtol("float32") == 1e-5
    assert tolerance.rtol("float64", 1, "numerical") == 1e-6
    assert tolerance.rtol("float64", 2, "numerical") == 1e-4
    with pytest.raises(ValueError):
        tolerance.rtol("int8")
    assert tolerance.within(1.0 + 1e-11, 1.0, 0.0, "float64")
    assert not tolerance.within(1.0 + 1e-9, 1.0, 0.0, "float64")
    assert tolerance.within(math.inf, 6e40, 6e40, "float32")  # float32's own overflow is right
    assert not tolerance.within(math.nan, 1.0, 1.0, "float64")
    assert tolerance.digits_lost(math.nan, 1.0, 1.0, "float64") > 15.9


SPECIAL = (0.0, -0.0, 1.0, -1.0, 1e-300, 5e-324, 1e-40, 6e40, 1e308, math.inf, -math.inf, math.nan)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_one_pass_rule_says_what_within_and_digits_lost_say(dtype):
    """tolerance.rule(dtype).judge, the fast path grad takes at every point, against the three
    plain functions of the rule, on values near, far from and exactly at their truths, the
    specials (0, subnormal, float32's overflow at 6e40, inf, nan) among them."""
    gen = torch.Generator().manual_seed(5)
    refs = [*SPECIAL, *(torch.randn(200, generator=gen, dtype=torch.float64) * 10.0 ** torch.randint(
        -30, 30, (200,), generator=gen)).tolist()]
    rule = tolerance.rule(dtype)
    for ref in refs:
        for rel in (0.0, 1e-14, 1e-11, 1e-9, 1e-5, 1.0):
            for value in {ref * (1 + rel), ref + rel, *SPECIAL}:
                cond = 3.0 * abs(ref) if math.isfinite(ref) else 0.0
                ok, lost, used = rule.judge(value, ref, lambda c=cond: c)
                needed = tolerance.needs_conditioning(value, ref, dtype)
                c = cond if needed else 0.0
                assert used == (cond if needed else None), (value, ref)
                assert ok == tolerance.within(value, ref, c, dtype), (value, ref)
                want = tolerance.digits_lost(value, ref, c, dtype)
                assert lost == want or abs(lost - want) < 1e-12, (value, ref, lost, want)


def test_gradcheck_atol_grows_with_the_rounding_of_its_fixed_step():
    assert gradcheck.atol_for(1.0) == 1e-5
    assert gradcheck.atol_for(1e10) == pytest.approx(10 * 2**-53 * 1e10 / 1e-6)
    x = torch.tensor([0.5, 1.5], dtype=D, requires_grad=True)
    assert gradcheck.passes(torch.sin, [x], 1.0)


class _Spy:
    def __init__(self, monkeypatch, module, name):
        self.calls = 0
        real = getattr(module, name)

        def spy(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)


@pytest.mark.parametrize("command", [
    ["grad", "sinc", "--x", "1,2"],
    ["hessian", "quad", "--x", "1", "--y", "2"],
    ["check", "examples/my_ops.py:MySincFixed", "--x=-2:2:5"],
])
def test_every_command_uses_the_one_engine(runner, monkeypatch, command):
    from backpropcli.cli import app

    differences = _Spy(monkeypatch, finite_diff, "_extrapolate")  # every difference quotient ends there
    closeness = _Spy(monkeypatch, tolerance, "limits")
    judged = _Spy(monkeypatch, tolerance.Rule, "judge")  # the scalar rule, its constants looked up once
    columnar = _Spy(monkeypatch, tolerance.Rule, "judge_many")  # the same rule on whole columns
    checks = _Spy(monkeypatch, gradcheck, "passes")
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    # check never runs torch's gradcheck: its dense Jacobians are what the tensor doctor avoids
    assert differences.calls and (closeness.calls or judged.calls or columnar.calls)
    assert checks.calls or command[0] == "check"


def test_no_module_keeps_a_finite_difference_or_tolerance_of_its_own():
    """The step rule (a power of eps) lives in finite_diff.py; a dict of rtols in tolerance.py."""
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if rel != "core/finite_diff.py" and isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
                left = ast.unparse(node.left)
                assert not left.endswith(".eps"), f"{rel}:{node.lineno}: a finite-difference step outside finite_diff"
            if rel != "core/finite_diff.py" and not rel.startswith("expressions/") and _central_difference(node):
                raise AssertionError(f"{rel}:{node.lineno}: a central difference outside finite_diff")
            if rel != "core/tolerance.py" and isinstance(node, (ast.Assign, ast.AnnAssign)) and \
                    isinstance(node.value, ast.Constant) and isinstance(node.value.value, float):
                names = [ast.unparse(t) for t in (node.targets if isinstance(node, ast.Assign) else [node.target])]
                assert not any(n.endswith(("RTOL", "AGREE")) for n in names), \
                    f"{rel}:{node.lineno}: a tolerance outside tolerance.py"
            if rel != "core/tolerance.py" and isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                names = [ast.unparse(t) for t in node.targets]
                assert not any("RTOL" in n for n in names), f"{rel}:{node.lineno}: a tolerance table outside tolerance"


def _central_difference(node: ast.AST) -> bool:
    """(a - b) / (2 * h) or (a - b) / 2 / h: the difference quotient finite_diff owns (expressions/
    keeps the 50-digit numerical truth in mpmath, a second truth by design: issue 22)."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
        return False
    left, right = node.left, node.right
    if isinstance(left, ast.BinOp) and isinstance(left.op, ast.Div):  # (a - b) / 2 / h
        left, right = left.left, left.right
    halved_step = node.left is not left and isinstance(right, ast.Constant) and right.value == 2
    twice_step = isinstance(right, ast.BinOp) and isinstance(right.op, ast.Mult) and \
        isinstance(right.left, ast.Constant) and right.left.value == 2
    return (halved_step or twice_step) and isinstance(left, ast.BinOp) and isinstance(left.op, ast.Sub)
