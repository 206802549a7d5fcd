"""Defects a hostile tester found in typed expressions (issue 15), each pinned where it was:
wrong verdicts, tracebacks, slow or unclear refusals. Truths are written here in mpmath,
never taken from the package's sympy path."""

import json
import subprocess
import sys

import mpmath
import pytest

from backpropcli.errors import InputError
from backpropcli.expressions import compile as compile_expr


def invoke(runner, *args):
    from backpropcli.cli import app

    return runner.invoke(app, list(args))


def payload_of(result) -> dict:
    return json.loads(result.stdout)


def sigmoid_prime(x: float) -> float:
    """sigmoid'(x) = e^-x / (1 + e^-x)^2 at 50 digits: no cancellation in this form."""
    with mpmath.workdps(50):
        t = mpmath.exp(-mpmath.mpf(x))
        return float(t / (1 + t) ** 2)


# ---- 1. a small derivative fails when autograd lost its digits ------------------------------------


def test_sigmoid_at_30_fails_and_the_three_numbers_agree(runner):
    result = invoke(runner, "grad", "sigmoid(x)", "--x=30", "--json")
    assert result.exit_code == 1
    payload = payload_of(result)
    point = payload["points"][0]
    truth = sigmoid_prime(30.0)
    assert point["gradients"]["x"]["analytic"] == pytest.approx(truth, rel=1e-15)
    rel = abs(point["gradients"]["x"]["autograd"] - truth) / truth
    assert rel > 1e-4  # torch's s*(1 - s): 1 - s keeps three digits of sigmoid'(30)
    assert payload["ok"] is False and point["ok"] is False and point["graph_ok"] is False
    # the verdict, digits_lost and graph_digits_lost say the same thing: ~13 of 16 digits lost
    assert point["digits_lost"] > 6 and point["graph_digits_lost"] == pytest.approx(point["digits_lost"], abs=0.1)


def test_sigmoid_where_nothing_is_lost_passes(runner):
    result = invoke(runner, "grad", "sigmoid(x)", "--x=2", "--json")
    assert result.exit_code == 0
    point = payload_of(result)["points"][0]
    assert point["gradients"]["x"]["autograd"] == pytest.approx(sigmoid_prime(2.0), rel=1e-14)
    assert point["digits_lost"] < 2 and point["graph_digits_lost"] < 2


def test_no_reason_line_names_a_node_that_lost_nothing(runner):
    result = invoke(runner, "grad", "sigmoid(x)", "--x=30")
    assert "(0 digits lost there)" not in result.stdout
    out = " ".join(result.stdout.split())
    assert "the graph wrong at 1 point(s)" in out and "report's graph" not in out


def test_the_terms_of_a_sum_still_set_the_scale_near_its_zero(runner):
    """x*sin(x): f' = sin(x) + x*cos(x) has a zero near 2.0288; there the chain rule's two paths
    cancel in any float evaluation, and the verdict allows for it."""
    with mpmath.workdps(50):
        root = float(mpmath.findroot(lambda t: mpmath.sin(t) + t * mpmath.cos(t), 2.0))
    result = invoke(runner, "grad", "x*sin(x)", "--x", repr(root), "--json")
    assert result.exit_code == 0, result.output


# ---- 2. gradcheck does not decide for an expression ------------------------------------------------


@pytest.mark.parametrize("text,x,truth", [
    ("log(x)", 1e-5, lambda t: 1 / t),
    ("sqrt(x)", 1e-8, lambda t: 1 / (2 * mpmath.sqrt(t))),
    ("x*log(x)", 1e-10, lambda t: mpmath.log(t) + 1),
])
def test_near_the_domain_edge_autograd_is_judged_by_the_truth(runner, text, x, truth):
    result = invoke(runner, "grad", text, "--x", repr(x), "--json")
    assert result.exit_code == 0, result.output
    payload = payload_of(result)
    with mpmath.workdps(50):
        want = float(truth(mpmath.mpf(x)))
    assert payload["points"][0]["gradients"]["x"]["autograd"] == pytest.approx(want, rel=1e-14)
    assert payload["gradcheck"] is None and payload["ok"] is True
    text_out = " ".join(invoke(runner, "grad", text, "--x", repr(x)).stdout.split())
    assert "gradcheck not applicable: no hand-written backward; autograd is judged against the 50-digit truth" \
        in text_out


def test_a_builtin_with_a_custom_backward_still_runs_gradcheck(runner):
    payload = payload_of(invoke(runner, "grad", "sinc", "--x", "2", "--json"))
    assert payload["gradcheck"] is True


def test_the_failure_message_names_what_failed(runner):
    result = invoke(runner, "grad", "sigmoid(x)", "--x=30")
    line = result.stderr.strip().splitlines()[-1]
    # the point, and the node whose own derivative (torch's s·(1 - s)) cancels
    assert "at x = 30" in line and "local derivative of v1 = sigmoid(x)" in line and "gradcheck" not in line


# ---- 3. a shared overflow is right ----------------------------------------------------------------


@pytest.mark.parametrize("text,x", [("exp(x)", "800"), ("cosh(x)", "1000")])
def test_overflow_that_the_truth_shares_is_ok(runner, text, x):
    with mpmath.workdps(30):
        assert mpmath.exp(mpmath.mpf(x)) / 2 > mpmath.mpf("1.8e308")  # the truth overflows float64 too
    result = invoke(runner, "grad", text, "--x", x)
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "f and f′ overflow float64 here" in out and "worst node" not in out and "FAILED" not in out


# ---- 4. outside the domain the derivative is undefined --------------------------------------------


@pytest.mark.parametrize("text,x", [("log(x)", "-1"), ("sqrt(x)", "-1"), ("asin(x)", "2"), ("log(x)*x", "-2")])
def test_no_derivative_where_f_is_not_real(runner, text, x):
    # f is not real there: no truth, no verdict; with no other point nothing was checked (exit 1)
    result = invoke(runner, "grad", text, f"--x={x}", "--json")
    assert result.exit_code == 1
    payload = payload_of(result)
    point = payload["points"][0]
    assert point["gradients"]["x"]["analytic"] == "nan" and point["value_analytic"] == "nan"
    assert point["status"] == "not-real" and point["ok"] is None
    assert point["truth"]["message"].startswith(f"f is not real at x = {x}")
    assert payload["checked"] == 0 and payload["findings"][0]["code"] == "nothing-checked"
    assert "nothing-checked" in result.stderr


# ---- 5. a value at an exact zero is judged against what pi's rounding moves it ----------------------


def test_sin_pi_x_at_an_integer_is_right(runner):
    result = invoke(runner, "grad", "sin(pi*x)", "--x=1", "--json")
    assert result.exit_code == 0, result.output
    point = payload_of(result)["points"][0]
    assert abs(point["value_analytic"]) < 1e-40  # 0 (mpmath's 50-digit pi leaves ~1e-61)
    # float pi is pi - 1.22e-16, so the graph's sin(pi*x) is 1.22e-16: pi's rounding, not a loss
    assert abs(point["value"]) < 4 * 2.0**-53 * float(mpmath.pi)
    assert point["gradients"]["x"]["autograd"] == pytest.approx(-float(mpmath.pi), rel=1e-15)


def test_cos_pi_x_derivative_at_an_integer_is_right(runner):
    result = invoke(runner, "grad", "cos(pi*x)", "--x=1")
    assert result.exit_code == 0, result.output
    assert "report's graph" not in result.stdout


# ---- 6, 7. never a traceback ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["x/0", "x/1e-400", "x/(1-1)", "x/(x-x)", "x/(2 - 2*1)"])
def test_undefined_constants_are_one_line_exit_2(runner, text):
    result = invoke(runner, "grad", text, "--x", "1")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output


FUNCTIONS = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "expm1",
             "log", "log1p", "sqrt", "abs", "sigmoid", "softplus")


# compositions of every function of the language, defined at x = 0.3 (a point outside a domain
# goes through sympy's limits, which is another matter and slow)
COMPOSITIONS = [
    "exp(log1p(expm1(x)))", "exp(sinh(cosh(tanh(sigmoid(x)))))", "log(cosh(sin(x)))",
    "sqrt(softplus(atan(x)))", "asin(tanh(exp(x)))", "acos(sigmoid(sinh(x)))", "abs(tan(log1p(x)))",
    "expm1(sqrt(cosh(abs(x))))", "softplus(log(exp(sin(x))))", "sigmoid(acos(sin(tanh(x))))",
    "tan(atan(expm1(sigmoid(x))))", "cosh(asin(log1p(sqrt(x))))",
]


@pytest.mark.parametrize("text", COMPOSITIONS)
def test_compositions_of_the_language_never_traceback(text):
    spec = compile_expr(text)
    for x in (0.3,):
        for order in (1, 2):
            try:
                spec.reference({"x": x}, {}, order)
            except InputError:
                pass  # a refusal with one line is fine; anything else is a bug


@pytest.mark.parametrize("command", ["grad", "hessian"])
def test_the_reported_compositions_are_right(runner, command):
    result = invoke(runner, command, "exp(log1p(expm1(x)))", "--x", "0.3", "--json")
    assert result.exit_code == 0, result.output
    point = payload_of(result)["points"][0]
    got = point["gradients"]["x"]["analytic"] if command == "grad" else point["hessian"]["analytic"][0][0]
    assert got == pytest.approx(float(mpmath.exp(0.3)), rel=1e-15)  # exp(log1p(expm1(x))) = e^x
    result = invoke(runner, command, "exp(sinh(cosh(tanh(sigmoid(x)))))", "--x", "0.3")
    assert result.exit_code == 0, result.output


# ---- 8. refusal before torch -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["x.y", "foo", "sinc(x)", "x/0", "0x10", "q" * 5000])
def test_refused_in_a_fresh_process_without_torch(text):
    code = ("import sys; from backpropcli.cli import main\n"
            f"sys.argv = ['backprop', 'grad', {text!r}, '--x', '1']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "print('LOADED', [m for m in ('torch',) if m in sys.modules], code, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "LOADED [] 2" in done.stderr and done.stderr.startswith("error: "), done.stderr


# ---- 9. only plain decimal numbers, one line ------------------------------------------------------


@pytest.mark.parametrize("text,says", [
    ("x*1e-400", "underflows to 0"), ("x # note", "no comments"), ("0x10*x", "plain decimal numbers only"),
    ("1_000*x", "plain decimal numbers only"), ("x\n+ 1", "one line"), ("0o17 + x", "plain decimal"),
])
def test_python_only_number_forms_are_refused(text, says):
    with pytest.raises(InputError, match=says):
        compile_expr(text)


def test_surrounding_spaces_and_tabs_are_fine():
    assert compile_expr("\t x*2 \t").name == "x*2"
    assert compile_expr("1e-300*x").name == "1e-300*x"  # within range: accepted


# ---- 10. messages ---------------------------------------------------------------------------------


def test_a_missing_variable_is_named(runner):
    result = invoke(runner, "grad", "x*y", "--x=2")
    assert result.exit_code == 2
    assert "variable y used in 'x*y' but not given (--y)" in result.stderr


def test_sinc_called_says_sinc_is_registered(runner):
    result = invoke(runner, "grad", "sinc(x)", "--x", "1")
    assert result.exit_code == 2 and "sinc is a registered function: type `sinc` alone" in result.stderr


def test_the_light_list_of_builtin_names_is_the_registry():
    from backpropcli.expressions.parse import builtins
    from backpropcli.functions import REGISTRY

    assert set(builtins()) == set(list(REGISTRY)[:3])  # the built-ins come first; a test may register more


def test_a_long_unknown_name_is_not_echoed_whole(runner):
    for text in ("q" * 5000, "q" * 400 + "(x)"):
        result = invoke(runner, "grad", text, "--x", "1")
        assert result.exit_code == 2 and len(result.stderr) < 400, result.stderr


def test_starred_arguments_are_named():
    with pytest.raises(InputError, match="starred arguments are not allowed"):
        compile_expr("sin(*x)")


# ---- 11. an expression that starts with '-' ---------------------------------------------------------


def test_leading_minus_hint_and_the_double_dash_way(runner):
    result = invoke(runner, "grad", "-x**2", "--x", "1")
    assert result.exit_code == 2
    assert "put -- before an expression that starts with '-': backprop grad --x 1 -- '-x**2'" in result.stderr
    result = invoke(runner, "grad", "--x", "1", "--json", "--", "-x**2")
    assert result.exit_code == 0, result.output
    assert payload_of(result)["points"][0]["gradients"]["x"]["analytic"] == -2.0
    help_text = " ".join(invoke(runner, "grad", "--help").stdout.replace("│", " ").split())
    assert "one that starts with '-' goes after --" in help_text
