"""The checker's verdicts: overflow the dtype shares is right; the report's graph is judged by the tolerance."""

from backpropcli import functions
from backpropcli.core import derivatives as checks
from backpropcli.core import tolerance


def test_float32_overflow_shared_with_the_truth_passes():
    # f = 6e40 is beyond float32 (3.4e38): inf is the right float32 answer, as inf is at 1e200 in float64
    params = {"a": 1.0, "b": 2.0, "c": 3.0}
    for dtype, x in (("float32", 1e20), ("float64", 1e200)):
        for order in (1, 2):
            check = checks.derivatives(functions.get("quad"), {"x": [x], "y": [x]}, params, order, dtype)
            assert check.ok, (dtype, order)


def test_report_graph_wrong_but_finite_is_counted_with_digits_lost():
    check = checks.derivatives(functions.get("sinc"), {"x": [0.0, 1e-300, 1e-8, 2.0]}, {}, order=1)
    assert check.ok  # the custom Function is right everywhere
    failing = {p.inputs["x"] for p in check.graph_failures}
    assert failing == {0.0, 1e-300, 1e-8}  # 1e-8: autograd through the graph gives 0, truth -3.3e-9
    lost = {p.inputs["x"]: p.graph_digits_lost for p in check.points}
    assert lost[1e-8] > 15 and lost[1e-300] > 15 and lost[2.0] < 1


def test_softplus_graph_hessian_at_40_is_counted():
    # sigmoid(x)(1 - sigmoid(x)) through the report's graph is 0 at x = 40 (truth 4.2e-18)
    check = checks.derivatives(functions.get("softplus"), {"x": [0.5, 40.0]}, {}, order=2)
    assert check.ok and [p.inputs["x"] for p in check.graph_failures] == [40.0]


def test_digits_lost_scale():
    assert tolerance.digits_lost(1.0, 1.0, 1.0, "float64") == 0.0
    assert tolerance.digits_lost(float("nan"), 1.0, 1.0, "float64") > 15.9
    assert 7.5 < tolerance.digits_lost(1.0 + 1e-8, 1.0, 1.0, "float64") < 8.5
    assert tolerance.digits_lost(float("inf"), 6e40, 6e40, "float32") == 0.0
