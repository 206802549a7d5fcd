"""The process around a command: signals, standard streams and the environment.

cli.py (and files.py, for its deferred signals) use this module. It makes the CLI's contract hold whatever the
process was started with: a closed or full stdout, a non-UTF-8 locale,
COLUMNS=0, MPLBACKEND=nonsense, SIGTERM, or a Ctrl-C that lands where Python
cannot raise it (a garbage-collection callback).
"""

from __future__ import annotations

import codecs
import os
import re
import signal
import sys
import unicodedata
from collections.abc import Iterator, Mapping

from backpropcli.errors import OutputError

# ---- signals ---------------------------------------------------------------------------------------


class _Signals:
    """SIGINT and SIGTERM raise KeyboardInterrupt and are remembered: an interrupt that
    Python swallows (one raised inside a GC callback or a __del__ is only printed as
    "Exception ignored") is raised again at the next safe point, so a run never ends
    with exit 0 after an interrupt. While ``deferred`` (moving finished files into
    place), a signal is only remembered and raised when the section ends."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.deferred = 0

    def handler(self, number: int, frame) -> None:
        self.received = number
        if not self.deferred:
            raise KeyboardInterrupt

    def check(self) -> None:
        """A safe point: raise an interrupt that has been received."""
        if self.received is not None and not self.deferred:
            raise KeyboardInterrupt

    def install(self) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self.handler)

    def __enter__(self):
        self.deferred += 1
        return self

    def __exit__(self, *exc) -> None:
        self.deferred -= 1
        if exc[0] is None:
            self.check()


SIGNALS = _Signals()


# ---- stdout that fails loudly -------------------------------------------------------------------------


class _Stdout:
    """sys.stdout, looked up at each write (tests swap it), where a failed write
    (closed stdout, a full disk) is an OutputError: one line on stderr, exit 1."""

    @staticmethod
    def _stream():
        stream = sys.stdout
        if stream is None:  # the process was started with stdout closed
            raise OutputError("cannot write to standard output: it is closed")
        return stream

    def write(self, text: str) -> int:
        try:
            return self._stream().write(text)
        except BrokenPipeError:
            raise  # a reader that went away (| head): handled in flush_at_exit
        except (OSError, ValueError) as exc:  # ValueError: I/O operation on closed file
            raise OutputError(f"cannot write to standard output: {getattr(exc, 'strerror', None) or exc}") from None

    def flush(self) -> None:
        try:
            self._stream().flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:
            raise OutputError(f"cannot write to standard output: {getattr(exc, 'strerror', None) or exc}") from None

    def isatty(self) -> bool:
        stream = sys.stdout
        try:
            return stream is not None and stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream().fileno()

    @property
    def encoding(self) -> str:
        return getattr(sys.stdout, "encoding", None) or "utf-8"


STDOUT = _Stdout()


def flush_at_exit() -> None:
    """Flush stdout now, where a failure can still be reported, not in the interpreter's exit."""
    stream = sys.stdout
    if stream is None:
        return
    try:
        stream.flush()
    except BrokenPipeError:
        # the reader went away (| head): not an error of ours; silence the exit-time flush
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError) as exc:
        _last_words(f"error: cannot write to standard output: {getattr(exc, 'strerror', None) or exc}")
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        sys.exit(1)


def _last_words(line: str) -> None:
    if sys.stderr is not None:
        try:
            sys.stderr.write(one_line(line) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


# ---- environment ------------------------------------------------------------------------------------


class _SaneEnviron(Mapping):
    """os.environ, live, without a COLUMNS or LINES that is not a positive number:
    rich would take COLUMNS=0 at its word and print nothing, error lines included."""

    HIDDEN = ("COLUMNS", "LINES")

    def _ok(self, key: str) -> bool:
        if key not in self.HIDDEN:
            return True
        value = os.environ.get(key, "")
        return value.isdigit() and int(value) > 0

    def __getitem__(self, key: str) -> str:
        if not self._ok(key):
            raise KeyError(key)
        return os.environ[key]

    def __iter__(self) -> Iterator[str]:
        return (k for k in list(os.environ) if self._ok(k))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def sane_environ() -> Mapping:
    return _SaneEnviron()


# ---- text that fits the terminal's encoding and stays one line --------------------------------------------

ASCII = {
    "∂": "d", "✓": "ok", "✗": "X", "→": "->", "←": "<-", "↑": "^", "↓": "v", "′": "'", "″": "''",
    "·": "*", "×": "x", "−": "-", "≈": "~", "≤": "<=", "≥": ">=", "≠": "!=", "…": "...", "—": "--", "–": "-",
    "²": "^2", "ŷ": "y_hat", "λ": "lambda", "∇": "grad", "∑": "sum", "√": "sqrt", "∞": "inf", "±": "+-",
    "•": "*", "█": "#", "━": "-", "─": "-", "│": "|", "┃": "|",
}


def _ascii(char: str) -> str:
    if char in ASCII:
        return ASCII[char]
    name = unicodedata.name(char, "")
    if name.startswith("BOX DRAWINGS"):
        return "|" if "VERTICAL" in name and "HORIZONTAL" not in name else ("-" if "HORIZONTAL" in name
                                                                              and "VERTICAL" not in name else "+")
    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return plain or "?"


def _ascii_fallback(exc: UnicodeError):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "".join(_ascii(c) for c in exc.object[exc.start:exc.end]), exc.end


codecs.register_error("backprop-ascii", _ascii_fallback)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """Control characters (a newline, ESC of an ANSI sequence) shown escaped, as \\n and \\x1b."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def prepare_process() -> None:
    """Signals, stream encodings and matplotlib's backend, before any command runs."""
    try:
        SIGNALS.install()
    except ValueError:  # not the main thread: leave the default handlers
        pass
    for stream in (sys.stdout, sys.stderr):
        if stream is None or not hasattr(stream, "reconfigure"):
            continue
        try:
            "∂✓→─′".encode(stream.encoding or "ascii")
        except (UnicodeEncodeError, LookupError):
            stream.reconfigure(errors="backprop-ascii")  # ∂ -> d, ✓ -> ok, → -> '->'
    # the tool draws into files with Agg, whatever the environment asks for
    os.environ["MPLBACKEND"] = "Agg"


def prune_suggestions(exc: Exception) -> None:
    """click suggests any option within difflib's loose 0.6 ratio (--bogus -> "--out"):
    keep only close ones (a typo of one or two letters in the name after the dashes)."""
    import difflib

    possibilities = getattr(exc, "possibilities", None)
    name = getattr(exc, "option_name", None)
    if not possibilities or not name:
        return
    bare = name.lstrip("-")
    exc.possibilities = [p for p in possibilities  # type: ignore[attr-defined]
                         if difflib.SequenceMatcher(None, bare, p.lstrip("-")).ratio() >= 0.75]
