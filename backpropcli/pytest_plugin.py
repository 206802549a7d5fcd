"""The pytest plugin: installing backpropcli is enough (entry point ``pytest11``).

A test asks for the ``check_gradients`` fixture and calls it like `backpropcli.assert_gradients`::

    def test_my_linear(check_gradients):
        check_gradients(MyLinear, make_inputs)

A wrong gradient fails the test with a GradientCheckError naming each finding (code, input,
where, fix), and the failure's report gets a section "backprop check" with the capability,
findings and inputs tables as plain text: the same in a terminal, a CI log and JUnit XML.

Loading the plugin imports neither torch nor the checker: pytest loads it in every run.
"""

from __future__ import annotations

from typing import Any

import pytest

FAILED = pytest.StashKey[list]()  # the failed checks of a test, for its report section
SECTION = "backprop check"


@pytest.fixture
def check_gradients(request: pytest.FixtureRequest):
    """``check_gradients(fn, inputs, **options)``: `backpropcli.assert_gradients` in a test. Returns
    the check when no gradient is wrong; else the test fails with the findings."""

    def check(fn: Any, inputs: Any = None, **options: Any):
        __tracebackhide__ = True  # the failure shows the test's line, then the findings
        from backpropcli.api import assert_gradients
        from backpropcli.errors import GradientCheckError

        try:
            return assert_gradients(fn, inputs, **options)
        except GradientCheckError as exc:
            request.node.stash.setdefault(FAILED, []).append(exc.result)
            raise

    return check


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test that checked gradients gets the checks' tables as a section of its failure:
    the terminal prints it under the traceback, and JUnit XML's <failure> element carries it."""
    report = yield
    if call.when == "call" and report.failed:
        for result in item.stash.get(FAILED, []):
            title, text = f"{SECTION}: {result.diagnosis.target}", result.report()
            if hasattr(report.longrepr, "addsection"):  # part of the failure's text: JUnit XML's <failure> too
                report.longrepr.addsection(title, text)
            else:
                report.sections.append((title, text))
    return report
