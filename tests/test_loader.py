"""Loading FILE.py:Name and package.module:Name, and the one-line errors (exit 2)."""

import sys
import textwrap

import pytest

from backpropcli.doctor.loader import load
from backpropcli.errors import InputError

GOOD = """
import torch


class Twice(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return 2 * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        return 2 * g


class Old(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x * y

    @staticmethod
    def backward(ctx, g):
        return g, g


def plain(x):
    return x * x


class NotAFunction:
    pass


VALUE = 3
"""


@pytest.fixture
def ops(tmp_path):
    path = tmp_path / "ops.py"
    path.write_text(GOOD)
    return path


def write(tmp_path, text, name="user.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_loads_functions_and_callables(ops):
    twice = load(f"{ops}:Twice")
    assert twice.kind == "function" and twice.inputs == ["x"] and twice.name == "Twice"
    old = load(f"{ops}:Old")
    assert old.kind == "function-ctx" and old.inputs == ["x", "y"]
    plain = load(f"{ops}:plain")
    assert plain.kind == "callable" and plain.apply is plain.obj


def test_loading_twice_runs_the_file_twice_and_leaves_sys_modules_clean(ops):
    before = set(sys.modules)
    first, second = load(f"{ops}:Twice"), load(f"{ops}:Twice")
    assert first.obj is not second.obj
    assert not [m for m in set(sys.modules) - before if m.startswith("_backprop_user")]
    assert str(ops.parent) not in sys.path


def test_loads_a_module_by_dotted_name():
    target = load("backpropcli.functions.sinc:Sinc")
    assert target.kind == "function"


def test_sibling_imports_work(tmp_path):
    write(tmp_path, "def helper(x):\n    return x + 1\n", "helpers_for_doctor.py")
    path = write(tmp_path, "from helpers_for_doctor import helper\nf = helper\n")
    assert load(f"{path}:f").kind == "callable"
    sys.modules.pop("helpers_for_doctor", None)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load(f"{tmp_path}/nope.py:F")


def test_missing_module():
    with pytest.raises(InputError, match="no module named 'no_such_package_xyz'"):
        load("no_such_package_xyz.ops:F")


def test_missing_name_with_hint(ops):
    with pytest.raises(InputError, match="did you mean 'Twice'"):
        load(f"{ops}:Twise")
    with pytest.raises(InputError, match="its autograd.Functions: Old, Twice"):
        load(f"{ops}:Zzzzzz")


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "import torch\n\ndef f(x):\n    return x +\n")
    with pytest.raises(InputError) as info:
        load(f"{path}:f")
    message = str(info.value)
    assert f"{path}:4" in message and "syntax error" in message and "\n" not in message


def test_exception_at_import_is_named(tmp_path):
    path = write(tmp_path, "import torch\n\nx = 1\nraise ValueError('bad config')\n")
    with pytest.raises(InputError) as info:
        load(f"{path}:f")
    message = str(info.value)
    assert "ValueError: bad config" in message and f"{path}:4" in message and "\n" not in message


def test_neither_function_nor_callable(ops):
    with pytest.raises(InputError, match="VALUE is an int, neither a torch.autograd.Function subclass nor a callable"):
        load(f"{ops}:VALUE")
    with pytest.raises(InputError, match="not a torch.autograd.Function subclass"):
        load(f"{ops}:NotAFunction")


def test_bad_spec():
    with pytest.raises(InputError, match="FILE.py:Name"):
        load("just_a_name")


def test_a_required_keyword_only_parameter_is_named(tmp_path):
    path = write(tmp_path, """
        def f(x, *, k):
            return x * k


        def g(x, *, k=2):
            return x * k
    """)
    with pytest.raises(InputError, match="f has a required keyword-only parameter 'k'"):
        load(f"{path}:f")
    assert load(f"{path}:g").inputs == ["x"]  # one with a default is fine


def test_a_keyboard_interrupt_the_module_raises_is_its_error_but_ctrl_c_is_not(tmp_path):
    raised = write(tmp_path, "raise KeyboardInterrupt\n", "raised.py")
    with pytest.raises(InputError, match=r"importing .*raised.py raised KeyboardInterrupt \(.*raised.py:1\)"):
        load(f"{raised}:F")
    pressed = write(tmp_path, """
        import os
        import signal
        import time

        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends
        time.sleep(5)
    """, "pressed.py")
    with pytest.raises(KeyboardInterrupt):
        load(f"{pressed}:F")


def test_guarded_sends_prints_to_stderr_and_refuses_hard_exits(capsys):
    import os

    from backpropcli.doctor.sandbox import guarded
    from backpropcli.errors import BackpropError

    real_exit = os._exit
    with pytest.raises(BackpropError, match=r"checking it: the user's code called os._exit\(3\)"):
        with guarded("checking it", 5):
            print("from the user")
            os._exit(3)
    assert os._exit is real_exit
    out, err = capsys.readouterr()
    assert out == "" and "from the user" in err
