"""Every table at 40, 60, 80 and 120 columns: no number is ever cut, folded or cropped.

A number never contains a space, so a table that fits shows the same number tokens as one
drawn with room to spare; a cut ("5.6e…"), a fold across two lines or a cropped exponent
changes them. Below the width a table needs, render.Fit stacks the cells instead."""

import re
from collections import Counter
from types import SimpleNamespace

import pytest
from conftest import NUMBER, render_plain

from backpropcli.present import terminal as render

WIDTHS = (30, 40, 60, 80, 120)  # 40-120 asked for; 30 to show the last resort


def _check(function, order, **options):
    from backpropcli.app import derivatives
    from backpropcli.app.views import Views
    from backpropcli.config import models as config

    cfg = config.load_function(function, None, {"x": None, "y": None, "a": None, "b": None, "c": None,
                                                "dtype": None, **options})
    return derivatives.derivatives(derivatives.DerivativeRequest(cfg, order, False, Views(True, False, False), None))


def _doctor(target, points):
    from backpropcli.doctor import build
    from backpropcli.doctor.diagnose import diagnose
    from backpropcli.doctor.loader import load

    return render.doctor(diagnose(build.subject_from_points(load(target), points, {})))


def _regress(**options):
    from backpropcli.config.models import RegressConfig
    from backpropcli.core.regression import train

    return render.regression(train(RegressConfig(**options)))


def _renderables():
    from backpropcli.config.models import RegressConfig
    from backpropcli.core.regression import load_dataset
    from backpropcli.core.trace import regression_trace

    yield "regress", _regress()
    yield "regress diverged", _regress(lr=0.5)
    yield "regress no-zero-grad", _regress(zero_grad=False)
    yield "regress trace", render.trace(regression_trace(RegressConfig(), load_dataset(RegressConfig())), "L")
    for name, function, order, options in (
        ("grad sinc", "sinc", 1, {"x": "2"}),
        ("grad sinc float32", "sinc", 1, {"x": "2", "dtype": "float32"}),
        ("grad quad huge", "quad", 1, {"x": "1e15", "y": "1"}),
        ("grad softplus", "softplus", 1, {"x": "-1000,0.5,1e300"}),
        ("hessian quad", "quad", 2, {"x": "1", "y": "-2.5"}),
        ("hessian softplus", "softplus", 2, {"x": "0.5"}),
    ):
        run = _check(function, order, **options)
        yield name, render.check_tables(run.check, True, run.spec.derivative_graph_title)
        if run.views is not None and run.views.trace is not None:
            yield name + " trace", render.trace(run.views.trace, run.views.symbol)
    for name, target, points in (
        ("check mysinc", "examples/my_ops.py:MySinc", {"x": [-1e15, -0.5, 0.0, 1.0000000000000002, 3.0]}),
        ("check cube overflow", "tests/doctor_gallery.py:Cube", {"x": [-1.5e-300, 2.0, 1e300]}),
        ("check cube nothing checked", "tests/doctor_gallery.py:Cube", {"x": [1e300]}),
        ("check two inputs", "tests/doctor_gallery.py:Swapped", {"x": [-123456.789, 2.5], "y": [1e-17, 3.0]}),
    ):
        yield name, _doctor(target, points)
    verdicts = [SimpleNamespace(name=f"check number {i}: 1.0000000000000002e+300 agrees", ok=i % 2 == 0)
                for i in range(3)]
    yield "report summary", render.report_summary(SimpleNamespace(verdicts=verdicts, ok=False))


CASES = list(_renderables())
REPEATS_LABELS = {"check two inputs"}


CUT_VECTOR = re.compile(r", …\]")  # a trace's vector shows its first entries, "[0, 0.65, …]"
CUT_CAPTION = re.compile(r"vectors: the first \d+ of \d+ entries")  # and the table says so


@pytest.mark.parametrize("name,renderable", CASES, ids=[c[0] for c in CASES])
def test_every_number_whole_at_every_width(name, renderable):
    roomy = sorted(NUMBER.findall(render_plain(renderable, width=400)))
    for width in WIDTHS:
        text = render_plain(renderable, width=width)
        assert max(map(len, text.splitlines())) <= width, f"{name} at {width} columns:\n{text}"
        if CUT_CAPTION.search(text):  # fewer entries of each vector, every one shown whole and unchanged
            assert "…" not in CUT_VECTOR.sub("]", text), f"{name} at {width} columns cuts a cell:\n{text}"
            found = Counter(NUMBER.findall(CUT_CAPTION.sub("", text)))
            assert not found - Counter(roomy), f"{name} at {width} columns changes a number:\n{text}"
            continue
        assert "…" not in text, f"{name} at {width} columns cuts a cell:\n{text}"
        found = sorted(NUMBER.findall(text))
        if name in REPEATS_LABELS and found != roomy:  # stacked, a point's second row repeats its inputs
            found, roomy = sorted(set(found)), sorted(set(roomy))
        assert found == roomy, f"{name} at {width} columns changes a number:\n{text}"


def test_a_narrow_terminal_stacks_the_table_and_a_wide_one_does_not():
    run = _check("sinc", 1, x="2")
    wide = render_plain(render.check_tables(run.check), width=120)
    narrow = render_plain(render.check_tables(run.check), width=40)
    assert "derivative  method" in wide and "method" not in narrow  # stacked: no header row
    assert "∂f/∂x · custom" in narrow and "-0.4353977749799916" in narrow


def test_float32_results_print_float32_digits_and_inputs_as_typed():
    from backpropcli.present.fmt import full

    assert full(0.4546487033367157, "float32") == "0.4546487"
    assert full(0.30000001192092896, "float32") == "0.3"
    assert full(1e300) == "1e+300" and full(-0.0) == "0" and full(2.0) == "2"
    text = render_plain(render.check_tables(_check("softplus", 1, x="1e300").check), width=120)
    assert "x = 1e+300" in text and "1.0000000000000001e+300" not in text
    text = render_plain(render.check_tables(_check("sinc", 1, x="2", dtype="float32").check), width=120)
    assert "0.4546487 " in text and "0.4546487033367157" not in text


