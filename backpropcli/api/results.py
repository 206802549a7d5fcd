"""The results of the Python API: each with ``.ok``, ``.findings``, ``.to_dict()`` (the command's
``--json`` without the keys that name files or time a run) and a notebook's display
(``_repr_html_``: tables; pictures as PNG). They wrap the app layer's runs; the words and the
tables come from present/ (html.py, plain.py, payloads.py)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# keys of a command's --json that to_dict() leaves out: the files a run wrote, and how long it took
# (neither is a result: the same inputs give the same to_dict())
FILE_KEYS = ("files", "plots")
TIMING_KEYS = ("timings",)


def _comparable(payload: dict) -> dict:
    """A command's --json as plain JSON values (nan as "nan"), without files and timings."""
    from backpropcli.present.jsonfmt import plain

    out = {k: v for k, v in payload.items() if k not in FILE_KEYS + TIMING_KEYS}
    cost = out.get("cost")
    if isinstance(cost, dict):
        out["cost"] = {k: v for k, v in cost.items() if k != "seconds"}
    return plain(out)


# ---- the pieces a result is made of --------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing a check found, worded: its stable ``code`` (like a linter's), ``severity``
    ("error": a gradient is wrong; "warning"; "info"), the ``input`` and ``output`` it concerns
    (forward's parameter name; None for the whole Function), what is wrong (``message``), how to
    fix it (``fix``) and the raw numbers behind the words (``extra``)."""

    code: str
    severity: str
    message: str
    fix: str = ""
    input: str | None = None
    output: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    WORDED = ("code", "severity", "message", "fix", "input", "output")

    @classmethod
    def of(cls, worded: dict) -> Finding:
        """From a finding of a command's --json."""
        return cls(worded["code"], worded.get("severity", "error"), worded.get("message", ""),
                   worded.get("fix", ""), worded.get("input"), worded.get("output"),
                   {k: v for k, v in worded.items() if k not in cls.WORDED})

    def __str__(self) -> str:
        about = f" ({self.input})" if self.input else ""
        return f"{self.code}{about}: {self.message}" + (f"; fix: {self.fix}" if self.fix else "")


class Picture:
    """A figure as PNG bytes: shown inline in a notebook (``_repr_png_``), or saved."""

    def __init__(self, png: bytes, title: str):
        self.png, self.title = png, title

    def _repr_png_(self) -> bytes:
        return self.png

    def save(self, path: str | Path) -> Path:
        """Write the PNG to ``path`` (atomically) and return the path."""
        from backpropcli.io.files import write_atomic

        def write(tmp: Path) -> None:
            tmp.write_bytes(self.png)

        return write_atomic(path, write)

    def __repr__(self) -> str:
        return f"<Picture {self.title!r}: {len(self.png)} bytes of PNG>"


def _drawn(draw: Callable[[Path], Path], title: str) -> Picture:
    """A figure drawn into a scratch folder and read back: nothing is left in the caller's folders."""
    with tempfile.TemporaryDirectory(prefix="backprop-") as folder:
        return Picture(draw(Path(folder) / "figure.png").read_bytes(), title)


class Trace:
    """The chain rule node by node on the graph PyTorch runs (``--trace``): each node's value and
    gradient, each edge's local, upstream and downstream gradient. Shown as two tables in a
    notebook; ``picture()`` draws the graph."""

    def __init__(self, traced: Any, symbol: str = "f"):
        self.traced, self.symbol = traced, symbol

    @property
    def nodes(self) -> list[dict]:
        """One dict per node: name, expr, op, value, grad (None for data)."""
        from backpropcli.present import tables

        return list(tables.node_rows(self.traced))

    @property
    def edges(self) -> list[dict]:
        """One dict per edge parent → child: from, to, local, upstream, downstream, rule."""
        from backpropcli.present import tables

        return list(tables.edge_rows(self.traced))

    def to_dict(self) -> dict:
        """The ``trace`` field of the command's --json."""
        from backpropcli.present import payloads
        from backpropcli.present.jsonfmt import plain

        return plain(payloads.trace(self.traced))

    def picture(self) -> Picture:
        """The traced graph drawn (the picture ``--graph`` writes): values in black, gradients in red."""
        from backpropcli.present.figures import graph

        return _drawn(lambda path: graph.graph_picture(self.traced, path, self.symbol), self.traced.caption)

    def _repr_html_(self) -> str:
        from backpropcli.present import html

        return html.trace(self.traced, self.symbol)

    def __repr__(self) -> str:
        return f"<Trace {self.traced.caption!r}: {len(self.traced.nodes)} nodes, {len(self.traced.edges)} edges>"


# ---- grad and hessian -------------------------------------------------------------------------------


class Derivatives:
    """The result of `grad` or `hessian`: every point checked four ways (analytic, the custom
    Function's backward, autograd through the graph, finite differences).

    ``ok`` is the command's verdict (exit 0); ``points`` the checked points (inputs, value, each
    derivative by every method, ok); ``findings`` what could not be judged; ``trace`` the chain
    rule at the first point when asked for (``trace=True``); ``to_dict()`` is ``--json``."""

    def __init__(self, run: Any):
        self.run = run

    @property
    def check(self) -> Any:
        """The core's DerivativeCheck, every field of every point (what the tables show)."""
        return self.run.check

    @property
    def ok(self) -> bool:
        """The command's verdict: True when it exits 0 (every checked point right, gradcheck passed)."""
        return bool(self.run.check.ok)

    @property
    def points(self) -> list:
        """The points, in order: inputs, value, each derivative by every method with its errors, ok."""
        return list(self.run.check.points)

    @property
    def files(self) -> list[Path]:
        """The files written (with ``plot=True``), in order."""
        return list(self.run.files)

    @property
    def findings(self) -> list[Finding]:
        """What could not be judged (a point where f is not real, undefined, not differentiable...)."""
        return [Finding.of(f) for f in self._payload()["findings"]]

    @property
    def trace(self) -> Trace | None:
        """The chain rule at the first point (`Trace`), when asked for with ``trace=True``; else None."""
        views = self.run.views
        return None if views is None or views.trace is None else Trace(views.trace, views.symbol)

    def _payload(self) -> dict:
        from backpropcli.present import payloads

        return {**payloads.check(self.run.check, self.run.config, self.run.files), **payloads.views(self.run.views)}

    def to_dict(self) -> dict:
        """``backprop grad ... --json`` (or hessian's), without ``files`` and ``plots``."""
        return _comparable(self._payload())

    def _repr_html_(self) -> str:
        from backpropcli.present import html

        worded = [f for f in self._payload()["findings"] if f["code"] != "nothing-checked"]
        return html.derivatives(self.run.check, worded)

    def __repr__(self) -> str:
        c = self.run.check
        return (f"<Derivatives {c.command} {c.function}: {'ok' if c.ok else 'FAILED'}, "
                f"{len(c.points)} point(s)>")


# ---- regress --------------------------------------------------------------------------------------


class Regression:
    """The result of `regress`: the fitted ``W`` and ``b`` against the least-squares optimum, the
    losses, and the verdict (converged, not converged yet, diverged). ``ok`` is False only when
    the run diverged (the command's exit 1)."""

    def __init__(self, run: Any):
        self.run = run

    @property
    def result(self) -> Any:
        """The core's RegressionResult: every number the table and --json show."""
        return self.run.result

    @property
    def ok(self) -> bool:
        """False only when the run diverged (the command's exit 1); not converged yet is ok."""
        return not self.run.result.diverged

    @property
    def converged(self) -> bool:
        """(W, b) within tol of the least-squares optimum."""
        return bool(self.run.result.converged)

    @property
    def W(self) -> float:  # the report's name for the weight
        """The fitted weight."""
        return float(self.run.result.W)

    @property
    def b(self) -> float:
        """The fitted bias."""
        return float(self.run.result.b)

    @property
    def losses(self) -> list[float]:
        """The loss before each update, one per step."""
        return list(self.run.result.losses)

    @property
    def files(self) -> list[Path]:
        """The files written (with ``plot=True``), in order."""
        return list(self.run.files)

    @property
    def findings(self) -> list[Finding]:
        """One warning when the fit has not converged or diverged; the advice is its fix."""
        from backpropcli.present.terminal.regress import advice

        r = self.run.result
        if r.converged:
            return []
        return [Finding("diverged" if r.diverged else "not-converged", "error" if r.diverged else "warning",
                        r.verdict, advice(r) or "")]

    @property
    def trace(self) -> Trace | None:
        """The chain rule through the loss's graph (`Trace`), when asked for with ``trace=True``; else None."""
        views = self.run.views
        return None if views is None or views.trace is None else Trace(views.trace, views.symbol)

    def to_dict(self) -> dict:
        """``backprop regress ... --json``, without ``files`` and ``plots``."""
        from backpropcli.present import payloads

        return _comparable({**payloads.regression(self.run.result, self.run.files),
                            **payloads.views(self.run.views)})

    def picture(self, which: str = "loss") -> Picture:
        """The report's Figure 2 (``"loss"``: the loss at each step) or Figure 1 (``"line"``: the
        fitted line through the data)."""
        from backpropcli.present.figures import regression as figures

        draw = {"loss": figures.loss_curve, "line": figures.regression_line}
        if which not in draw:
            raise ValueError(f"picture: which is 'loss' or 'line', not {which!r}")
        return _drawn(lambda path: draw[which](self.run.result, path), f"regression {which}")

    def _repr_html_(self) -> str:
        from backpropcli.present import html

        return html.regression(self.run.result)

    def __repr__(self) -> str:
        r = self.run.result
        return f"<Regression W={r.W!r} b={r.b!r}: {r.verdict}>"


# ---- check: a user's Function --------------------------------------------------------------------


class Check:
    """The diagnosis of a Function (`check_function`, ``backprop check``).

    ``ok`` is the verdict (no error finding: every first derivative right); ``findings`` name how a
    gradient is wrong (code, input, message, fix); ``capabilities`` the rows of the capability table
    (name, ok: True, False or None for not applicable, what it was compared with); ``inputs`` one
    row per input (shape, dtype, largest errors, worst element, pattern); ``to_dict()`` is
    ``check --json`` without timings and files."""

    def __init__(self, diagnosis: Any):
        self.diagnosis = diagnosis

    @property
    def ok(self) -> bool:
        """True when no gradient is wrong (no finding of severity error): `backprop check` exits 0."""
        return bool(self.diagnosis.ok)

    @property
    def findings(self) -> list[Finding]:
        """Every finding, worded (`Finding`): errors first as the check orders them, then warnings and notes."""
        return [Finding.of(f) for f in self._payload()["findings"]]

    @property
    def errors(self) -> list[Finding]:
        """The findings of severity error: the gradients that are wrong."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def capabilities(self) -> list:
        """The capability table's rows (name, ok: True, False or None, detail, compared_with)."""
        return list(self.diagnosis.capabilities)

    @property
    def inputs(self) -> list:
        """One row per input: name, shape, dtype, differentiable, ok, max abs/rel error, worst index, pattern."""
        return list(self.diagnosis.inputs)

    def _payload(self) -> dict:
        from backpropcli.present import payloads

        return {"command": "check", **payloads.diagnosis(self.diagnosis)}

    def to_dict(self) -> dict:
        """``backprop check ... --json``, without the timings (``cost.seconds``) and files."""
        return _comparable(self._payload())

    def message(self) -> str:
        """The short block GradientCheckError carries: per error, its code, input, where and fix."""
        from backpropcli.present import plain

        payload = _comparable(self._payload())
        errors = [f for f in payload["findings"] if f.get("severity") == "error"]
        shown = errors or payload["findings"]
        what = f"{len(errors)} gradient error{'s' if len(errors) != 1 else ''}" if errors else "check FAILED"
        block = plain.findings_block(f"{self.diagnosis.target}: {what}", shown, payload.get("inputs", []))
        others = sorted({f["code"] for f in payload["findings"] if f.get("severity") == "warning"})
        return block + (f"\n  and warning(s): {', '.join(others)}" if errors and others else "")

    def report(self) -> str:
        """The capability, findings and inputs tables as plain text (the pytest report section)."""
        from backpropcli.present import plain

        return plain.report(_comparable(self._payload()))

    def _repr_html_(self) -> str:
        from backpropcli.present import html

        return html.diagnosis(_comparable(self._payload()))

    def __repr__(self) -> str:
        d = self.diagnosis
        codes = ", ".join(d.codes) or "no findings"
        return f"<Check {d.target}: {'ok' if d.ok else 'FAILED'} ({codes})>"


# ---- manual: a hand-written backward, step by step ---------------------------------------------------


class Manual:
    """The verdict on a hand-written backward (`check_manual`, ``backprop manual``): each gradient
    it wrote judged end to end and alone, the first locally wrong step (the root cause), and the
    findings of each wrong step. ``to_dict()`` is ``manual --json`` without the files."""

    def __init__(self, run: Any):
        self.run = run

    @property
    def result(self) -> Any:
        """The doctor's ManualResult: every step with its tensors (truth, yours end to end and alone)."""
        return self.run.result

    @property
    def ok(self) -> bool:
        """True when every step is right alone and every leaf's gradient was written."""
        return bool(self.run.result.ok)

    @property
    def first_wrong(self) -> str | None:
        """The root cause: the first step that is wrong on true upstream gradients (None: none)."""
        return self.run.result.first_wrong

    @property
    def steps(self) -> list[dict]:
        """One dict per step: name, shape, status (exact, close, wrong, missing), local_ok,
        max_abs_error, inherits_from, findings."""
        return list(self.to_dict()["steps"])

    @property
    def findings(self) -> list[Finding]:
        """Every wrong step's findings, in the order of the steps; ``extra["step"]`` names the step."""
        return [Finding.of({**f, "step": s["name"]}) for s in self.to_dict()["steps"] for f in s["findings"]]

    def to_dict(self) -> dict:
        """``backprop manual FILE.py --json``, without ``files`` and ``plots``."""
        from backpropcli.present import payloads

        return _comparable(payloads.manual(self.run))

    def picture(self) -> Picture:
        """Each step's error on a log axis, alone and end to end (the figure ``--plot`` writes)."""
        from backpropcli.present.figures import manual as figures

        return _drawn(lambda path: figures.step_errors(self.run.result, path), "manual: the error of each step")

    def _repr_html_(self) -> str:
        from backpropcli.present import html

        return html.manual(self.to_dict())

    def __repr__(self) -> str:
        r = self.run.result
        return f"<Manual {r.file or 'backward'}: {'ok' if r.ok else 'FAILED'} (first wrong: {r.first_wrong})>"
