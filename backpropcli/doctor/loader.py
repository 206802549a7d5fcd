"""Load the user's `path/to/file.py:Name` or `package.module:Name` for `backprop check`.

Importing runs the user's code, as pytest does. Every problem is one line
(``InputError``, exit 2): a missing file or module, a missing name (with a
close-match hint), a syntax error (file:line), an exception raised at import
(type, message, file:line), or a name that is neither a torch.autograd.Function
subclass nor a callable.

While the user's code runs (`guarded`), what it prints goes to stderr (stdout holds only the
tool's output, one JSON object with --json), `os._exit` and `sys.exit` raise instead of ending
the process silently, and a deadline (`--timeout`) ends a hang with the line it hung on. A
KeyboardInterrupt raised by the module itself is its error (exit 2); a real Ctrl-C is not.

A file is imported under a fresh private module name that is removed from
sys.modules afterwards, so loading the same file twice runs it twice and never
collides with a module the user or the tool already has. Its folder is on
sys.path while it imports, so `from helpers import x` beside it works.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import itertools
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from backpropcli.doctor.sandbox import HardExit, TimedOut, ctrl_c
from backpropcli.errors import InputError

_counter = itertools.count()


@dataclass
class Target:
    """What `check` examines.

    kind: "function"      an autograd.Function with setup_context (torch.func can use it)
          "function-ctx"  an autograd.Function whose forward takes ctx (old style, no setup_context)
          "callable"      a plain callable of tensors (no hand-written backward)
    inputs: the names of forward's tensor arguments after ctx, in order (None: *args).
    """

    spec: str
    name: str
    obj: Any
    kind: str
    inputs: list[str] | None = field(default=None)
    required: list[str] | None = field(default=None)  # inputs without a default value

    @property
    def apply(self) -> Callable:
        return self.obj.apply if self.kind != "callable" else self.obj

    @property
    def is_function(self) -> bool:
        return self.kind != "callable"


def load(spec: str) -> Target:
    """`path/to/file.py:Name` or `package.module:Name` → Target (InputError on any problem)."""
    return _target(spec, spec.rpartition(":")[2], load_object(spec))


def refuse_missing_file(spec: str) -> None:
    """A FILE.py:Name whose file is not there, refused before anything heavy is imported (the
    same line load_object would give after seconds of importing torch)."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise InputError(f"expected FILE.py:Name or package.module:Name, got {spec!r}")
    if where.endswith(".py") or "/" in where or os.sep in where:
        path = Path(where).expanduser()
        if not path.is_file():
            raise InputError(f"no such file: {path}" if not path.exists() else f"not a file: {path}")


def load_object(spec: str) -> Any:
    """The object named by `path/to/file.py:Name` or `package.module:Name` (make_inputs, a reference)."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise InputError(f"expected FILE.py:Name or package.module:Name, got {spec!r}")
    if where.endswith(".py") or "/" in where or os.sep in where:
        module = _import_file(Path(where).expanduser())
        origin = where
    else:
        module = _import_module(where)
        origin = where
    try:
        obj = getattr(module, name)
    except AttributeError:
        raise InputError(_missing_name(origin, name, module)) from None
    return obj


def is_function_class(obj: Any) -> bool:
    import torch

    return isinstance(obj, type) and issubclass(obj, torch.autograd.Function)


def has_setup_context(cls) -> bool:
    from torch.autograd.function import _SingleLevelFunction

    return getattr(cls, "setup_context", None) is not _SingleLevelFunction.setup_context


def _target(spec: str, name: str, obj: Any) -> Target:
    if is_function_class(obj):
        kind = "function" if has_setup_context(obj) else "function-ctx"
        return Target(spec, name, obj, kind, *_input_names(obj.forward, skip_ctx=kind == "function-ctx"))
    if isinstance(obj, type):
        raise InputError(f"{name} is a class but not a torch.autograd.Function subclass; "
                         "give a Function subclass or a callable of tensors")
    if not callable(obj):
        raise InputError(f"{name} is {_a(type(obj).__name__)}, neither a torch.autograd.Function subclass "
                         "nor a callable of tensors")
    return Target(spec, name, obj, "callable", *_input_names(signed(obj), skip_ctx=False))


def signed(obj: Any) -> Any:
    """What names a callable's inputs: a torch.library.custom_op's __call__ takes *args, its
    parameters are those of the function it wraps."""
    return getattr(obj, "_init_fn", obj) if type(obj).__name__ == "CustomOpDef" else obj


def _a(noun: str) -> str:
    """'a float', 'an int'."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def target_of(obj: Any, name: str | None = None) -> Target:
    """A Target for an object already in hand (a Function class or a callable), e.g. in tests."""
    name = name or str(getattr(obj, "__name__", type(obj).__name__))
    return _target(f"{getattr(obj, '__module__', '?')}:{name}", name, obj)


def _input_names(fn, skip_ctx: bool) -> tuple[list[str] | None, list[str] | None]:
    """(names, names without a default) of fn's positional inputs after ctx; (None, None) for *args."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None, None
    if skip_ctx and params:
        params = params[1:]
    keyword_only = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if keyword_only:
        # check passes the tensors and --a/--b/--c by position: a required keyword-only one can never be given
        raise InputError(f"{getattr(fn, '__qualname__', 'forward')} has a required keyword-only parameter "
                         f"{keyword_only[0]!r}, which check cannot pass (it calls forward with positional "
                         "arguments): give it a default or make it positional")
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None, None
    params = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [p.name for p in params], [p.name for p in params if p.default is p.empty]


# ---- importing ----------------------------------------------------------------------------------


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise InputError(f"no such file: {path}" if not path.exists() else f"not a file: {path}")
    resolved = path.resolve()
    module_name = f"_backprop_user_{resolved.stem}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot import {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    folder = str(resolved.parent)
    sys.modules[module_name] = module  # dataclasses and pickle look the module up while it runs
    sys.path.insert(0, folder)
    try:
        with ctrl_c() as pressed:
            spec.loader.exec_module(module)
    except SyntaxError as e:
        raise InputError(_syntax(e, path)) from None
    except BaseException as e:
        if isinstance(e, (KeyboardInterrupt, TimedOut)) and (pressed or not isinstance(e, KeyboardInterrupt)):
            raise
        raise InputError(_raised(e, path, resolved)) from None
    finally:
        sys.modules.pop(module_name, None)
        _remove_path(folder)
    return module


def _import_module(name: str) -> ModuleType:
    cwd = os.getcwd()
    sys.path.insert(0, cwd)  # as `python -m` and pytest do: the current folder's packages import
    pressed: list = []
    try:
        with ctrl_c() as pressed:
            return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            raise InputError(f"no module named {e.name!r} (from {name!r}; is it installed, or in the current "
                             "folder?)") from None
        raise InputError(_raised(e, Path(name), None)) from None
    except SyntaxError as e:
        raise InputError(_syntax(e, Path(name))) from None
    except BaseException as e:
        if isinstance(e, (KeyboardInterrupt, TimedOut)) and (pressed or not isinstance(e, KeyboardInterrupt)):
            raise
        raise InputError(_raised(e, Path(name), None)) from None
    finally:
        _remove_path(cwd)


def _remove_path(entry: str) -> None:
    try:
        sys.path.remove(entry)
    except ValueError:
        pass


def _syntax(e: SyntaxError, path: Path) -> str:
    where = e.filename or str(path)
    line = f":{e.lineno}" if e.lineno else ""
    return f"{where}{line}: syntax error: {e.msg}"


def _raised(e: BaseException, path: Path, resolved: Path | None) -> str:
    """'importing FILE raised Type: message (file:line)', the line being the user's own where possible."""
    frames = traceback.extract_tb(e.__traceback__)
    frame = None
    if resolved is not None:
        mine = [f for f in frames if Path(f.filename) == resolved]
        frame = mine[-1] if mine else None
    if frame is None:
        user = [f for f in frames if "importlib" not in f.filename and "<frozen" not in f.filename]
        frame = user[-1] if user else None
    where = f" ({frame.filename}:{frame.lineno})" if frame is not None else ""
    if isinstance(e, HardExit):
        return f"importing {path} called os._exit({e.code}){where}, which would end backprop silently"
    message = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = f"{type(e).__name__}: {message}" if message else type(e).__name__
    return f"importing {path} raised {text}{where}"


def _missing_name(origin: str, name: str, module: ModuleType) -> str:
    names = [n for n in vars(module) if not n.startswith("_")]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"{origin} has no name {name!r}; did you mean {close[0]!r}?"
    import torch

    functions = sorted(n for n in names if is_function_class(getattr(module, n))
                       and getattr(module, n) is not torch.autograd.Function)
    hint = f"; its autograd.Functions: {', '.join(functions)}" if functions else ""
    return f"{origin} has no name {name!r}{hint}"
