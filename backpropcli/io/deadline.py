"""Bounded time for a computation that cannot bound itself (a sympy limit, a simplification).

`within(seconds, fn, *args)` runs ``fn`` and raises `TimeUp` when it is still running after
``seconds``. It uses a POSIX interval timer, so it works in the main thread only; elsewhere (a
library caller's worker thread) ``fn`` runs unbounded. Deadlines nest: an inner one never
outlives the outer one, and the outer one keeps its own end.

The timer interrupts Python code between bytecodes, through an exception that derives from
BaseException, so that the ``except Exception`` clauses inside sympy do not swallow it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class TimeUp(Exception):
    """The computation was stopped at its deadline."""

    def __init__(self, seconds: float) -> None:
        shown = int(seconds) if seconds == int(seconds) else seconds
        super().__init__(f"took longer than {shown} s")
        self.seconds = seconds


class _Expired(BaseException):
    """Raised inside the computation by the timer; becomes TimeUp outside it."""


def available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def within(seconds: float, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs), or TimeUp after ``seconds``."""
    if seconds <= 0:
        raise TimeUp(seconds)
    if not available():
        return fn(*args, **kwargs)
    start = time.monotonic()
    end = start + seconds
    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    token = _Expired()

    def handler(signum, frame):
        if time.monotonic() >= end - 1e-3:
            raise token
        if callable(previous):  # the outer deadline fired first: its handler decides
            previous(signum, frame)

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_left) if outer_left > 0 else seconds)
    try:
        return fn(*args, **kwargs)
    except _Expired as exc:
        if exc is not token:
            raise
        raise TimeUp(seconds) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left > 0:  # the outer deadline resumes with what is left of it (at least a tick)
            signal.setitimer(signal.ITIMER_REAL, max(1e-4, outer_left - (time.monotonic() - start)))


class Budget:
    """A total time shared by many steps (the limits at every point of one check): each step gets
    at most ``step`` seconds and together they get at most ``total``; once it is spent, `left`
    is 0 and callers use their fallback."""

    def __init__(self, total: float, step: float) -> None:
        self.total, self.step = total, step
        self.spent = 0.0

    def left(self) -> float:
        return max(0.0, min(self.step, self.total - self.spent))

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) within what is left; TimeUp when nothing is left or it runs out."""
        start = time.monotonic()
        try:
            return within(self.left(), fn, *args)
        finally:
            self.spent += time.monotonic() - start
