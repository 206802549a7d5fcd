"""Running the user's code guarded: its prints go to stderr (stdout holds only the tool's output),
`os._exit` and `sys.exit` raise instead of ending the process silently, a deadline (`--timeout`)
ends a hang with the line it hung on, and a real Ctrl-C is told from a KeyboardInterrupt the
code raises itself."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback

from backpropcli.errors import BackpropError


class HardExit(BaseException):
    """The user's code called os._exit(code): raised instead, so check cannot end silently with 0.
    A BaseException, so that no probe's `except Exception` takes it for a failed probe."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class TimedOut(BaseException):
    """The user's code ran past the deadline; ``where`` is the user's line it was running."""

    def __init__(self, where: str):
        super().__init__(where)
        self.where = where


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def ctrl_c():
    """Yields a list that is non-empty once a real Ctrl-C (SIGINT) arrived, so a KeyboardInterrupt
    the module raises itself can be told from the user pressing Ctrl-C. Off the main thread no
    handler can be set: every KeyboardInterrupt then counts as a Ctrl-C."""
    pressed: list = []
    if not _main_thread():
        pressed.append(True)
        yield pressed
        return

    def handler(signum, frame):
        pressed.append(True)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the package, not doctor/
_STDLIB = os.path.dirname(os.__file__)


def _user_line(frame) -> str:
    """'file:line in name' of the innermost frame that is the user's (not the tool's, torch's or Python's)."""
    import torch

    skip = (_HERE, os.path.dirname(torch.__file__), _STDLIB, "<frozen")
    while frame is not None:
        name = frame.f_code.co_filename
        if not any(name.startswith(s) for s in skip):
            return f"{name}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "an unknown line"


def raised_at(e: BaseException) -> str:
    """' (file:line)' of the user's innermost frame in e's traceback, or ''."""
    import torch

    skip = (_HERE, os.path.dirname(torch.__file__), _STDLIB, "<frozen")
    mine = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith(skip)]
    return f" ({mine[-1].filename}:{mine[-1].lineno})" if mine else ""


@contextlib.contextmanager
def _deadline(seconds: float | None):
    """Raise TimedOut in the main thread after ``seconds`` (POSIX interval timer; a no-op elsewhere)."""
    if not seconds or not _main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def handler(signum, frame):
        raise TimedOut(_user_line(frame))

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def guarded(what: str, seconds: float | None, error: type[BackpropError] = BackpropError):
    """Run the user's code: its prints go to stderr; os._exit and sys.exit become ``error``;
    past ``seconds`` it stops with ``error`` naming the line it hung on.

    ``what`` says what was running ("importing f.py", "checking f.py:Cube") for those messages.
    """
    real_exit = os._exit

    def hard_exit(code=0):
        raise HardExit(code)

    os._exit = hard_exit
    try:
        with contextlib.redirect_stdout(sys.stderr), _deadline(seconds):
            yield
    except TimedOut as e:
        raise error(f"{what} did not finish within {_seconds(seconds)} (--timeout): still running at "
                    f"{e.where}") from None
    except HardExit as e:  # named for whichever command runs it (check, manual, ...), at the user's line
        raise error(f"{what}: the user's code called os._exit({e.code}){raised_at(e)}, which would end backprop "
                    "silently") from None
    except SystemExit as e:
        raise error(f"{what}: the user's code called sys.exit({e.code!r}){raised_at(e)}, which would end backprop "
                    "with its code") from None
    finally:
        os._exit = real_exit


def _seconds(seconds) -> str:
    """"60 s", "0.5 s": the timeout as the user typed it (its shortest repr; the doctor may not
    import present.fmt, and a timeout needs nothing more)."""
    text = repr(float(seconds))
    return f"{text[:-2] if text.endswith('.0') else text} s"
