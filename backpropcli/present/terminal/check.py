"""`backprop check`: what the Function supports, its findings, each input's errors, the cost and
the verdict (doctor/results.Diagnosis). Designed for 80 columns; nothing here reads a message's text."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from backpropcli.doctor import results
from backpropcli.present import findings as words
from backpropcli.present.fmt import error as err
from backpropcli.present.fmt import num
from backpropcli.present.terminal.fit import Fit

MARKS = {True: "✓", False: "✗", None: "–"}  # capability and point verdicts (one place to swap for ASCII)
MARK_STYLE = {True: "green", False: "bold red", None: "dim"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
KIND_LABELS = {"function": "autograd.Function with setup_context",
               "function-ctx": "autograd.Function, old style forward(ctx, ...)",
               "callable": "plain callable (autograd through it is what is checked)"}


def _mark(ok: bool | None) -> Text:
    return Text(MARKS[ok], style=MARK_STYLE[ok])


def doctor(diagnosis: results.Diagnosis, show_all: bool = False) -> Group:
    """`backprop check`: what the Function supports, what is wrong with it, the inputs, the verdict."""
    return view(diagnosis, show_all)


# ---- the tensor doctor: doctor/results.Diagnosis ------------------------------------------------

SEVERITY_MARK = {"error": "✗", "warning": "!", "info": "i"}
TRUTH_NOTES = {"autograd through forward": "autograd through forward's own ops, confirmed by finite differences",
               "finite differences": "central differences in float64 (forward's ops are not traceable)",
               "reference": "autograd through the --reference implementation"}


def _table(title: str | None = None, **options) -> Table:
    """Numbers without boxes, a rule under the header (as grad's and the trace's tables)."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                 collapse_padding=True, show_edge=False, **options)


def compared(c: results.Capability) -> str:
    """What a capability row's mark was measured against, in two or three words."""
    against = c.compared_with.strip()
    if not against:
        return "ran only" if c.ok is not None else ""
    if against.startswith("nothing"):
        return "ran only"
    return against if against.startswith(("vs ", "against ")) else f"vs {against}"


def _capability_cell(c: results.Capability) -> Text:
    """What the row found, and under it (dim) what its ✓ or ✗ was measured against; a row not run
    (–) says only why, it was measured against nothing (the JSON keeps compared_with)."""
    against = compared(c) if c.ok is not None else ""
    cell = Text(c.detail)
    if against:
        cell.append(("\n" if c.detail else "") + against, style="dim")
    return cell


def capability_table(d: results.Diagnosis) -> RenderableType:
    if not d.capabilities:
        return Text("capabilities: none checked", style="dim")
    table = _table(f"What {d.target} supports")
    table.add_column("capability", no_wrap=True)
    table.add_column("", justify="center", no_wrap=True)
    table.add_column("what was found · what it was compared with")
    for c in d.capabilities:
        table.add_row(c.name, _mark(c.ok), _capability_cell(c))
    return Fit(table)


def _finding_cell(f: results.Finding) -> Text:
    """code · input · output · place, then what is wrong, then the fix (all from the registry)."""
    head = Text(f.code, style="bold")
    place = words.place(f)
    at = "" if place.startswith(("where ", "the ")) else "at "  # "where x < 0", "at [3, 7]"
    for label, value in (("input ", f.input), ("output ", f.output), (at, place or None)):
        if value:
            head.append(f" · {label}{value}")
    return Text("\n").join([head, Text(words.message(f)), Text("fix: " + words.fix(f), style="dim")])


WORST_ROWS = 5  # worst elements listed under a finding (--all: every one the finding holds)


def worst_table(f: results.Finding, show_all: bool = False) -> Group | None:
    """The worst elements a finding lists (classify's ``worst``): index, custom, truth, and the
    values there of the inputs of the gradient's shape; None when it lists none."""
    rows = [w for w in f.extra.get("worst") or () if isinstance(w, dict) and "index" in w]
    if not rows:
        return None
    there = list(dict.fromkeys(n for w in rows for n in (w.get("inputs") or {})))
    table = _table()
    for name in ("element", "custom", "truth", *there):
        table.add_column(name, justify="left" if name == "element" else "right", no_wrap=True)
    shown = rows if show_all else rows[:WORST_ROWS]
    for w in shown:
        values = w.get("inputs") or {}
        table.add_row(words.index(w["index"]), num(w.get("custom"), 6), num(w.get("truth"), 6),
                      *[num(values.get(n), 6) if isinstance(values.get(n), (int, float)) else "" for n in there])
    title = Text(f"The worst elements of {f.input or 'the gradient'} ({f.code})", style="italic")
    parts: list[RenderableType] = [Text(""), title, Fit(table)]
    if len(shown) < len(rows):
        parts.append(Text(f"{len(shown)} of the {len(rows)} listed; --all shows every one", style="dim"))
    return Group(*parts)


def findings_table(d: results.Diagnosis, show_all: bool = False) -> RenderableType:
    if not d.findings:
        return Text("findings: none", style="green")
    table = _table("Findings", show_lines=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("finding")
    for f in d.findings:
        style = SEVERITY_STYLE.get(f.severity, "")
        table.add_row(Text(f"{SEVERITY_MARK.get(f.severity, '')} {f.severity}", style=style), _finding_cell(f))
    worst = [w for w in (worst_table(f, show_all) for f in d.findings) if w is not None]
    return Group(Fit(table), *worst) if worst else Fit(table)


def _shape(shape: tuple[int, ...]) -> str:
    """64×256; a 0-d tensor as "scalar"."""
    return "×".join(map(str, shape)) if shape else "scalar"


def _result(r: results.InputReport) -> Text:
    """✓, ✗ with the pattern's code when one is named, – for an input not checked."""
    return Text.assemble(_mark(r.ok), (f" {r.pattern}" if r.pattern else "", MARK_STYLE[r.ok]))


def _inputs(d: results.Diagnosis, narrow: bool) -> Table:
    """One row per input; ``narrow``: the same table for a long index beside a long pattern, one
    space between columns and the worst index broken after its commas."""
    table = _table(f"The gradient of each input ({d.dtype}), against the truth")
    if narrow:
        table.padding = (0, 0, 0, 0)  # the box's own space still parts the columns
    for name in ("input", "shape", "dtype", "max abs", "max rel", "worst", "result"):
        table.add_column(name, no_wrap=not (narrow and name == "worst"),
                         justify="right" if name.startswith("max") else "left")
    for r in d.inputs:
        # where the largest error is; no place for an input without error
        worst = "" if r.worst_index is None or not r.max_abs_error else words.index(r.worst_index)
        style = "red" if r.ok is False else ("dim" if r.ok is None else None)
        table.add_row(r.name, _shape(r.shape), r.dtype, err(r.max_abs_error) if r.differentiable else "",
                      err(r.max_rel_error) if r.differentiable else "", worst, _result(r), style=style)
    return table


def input_table(d: results.Diagnosis) -> Group:
    notes = [Text("max abs: the largest |custom − truth| over the elements · max rel: the largest "
                  "|custom − truth| / |truth| · worst: the index of the element of max abs · result: the "
                  "pattern the errors make, when one is named", style="dim")]
    passed = [r.name for r in d.inputs if not r.differentiable]
    if passed:
        notes.append(Text(f"– {', '.join(passed)}: not differentiable (passed as given, no gradient checked)",
                          style="dim"))
    return Group(Fit(_inputs(d, False), shorter=(_inputs(d, True),)), *notes)


def cost_line(cost: results.Cost) -> Text:
    """The forward and backward calls the whole check made: what it costs, on any machine. The
    seconds per stage, which depend on the machine and its load, are in --json's cost."""
    return Text(f"cost: {cost.forward_calls} forward and {cost.backward_calls} backward calls", style="dim")


def _counts(d: results.Diagnosis) -> str:
    errors = len(d.errors)
    warnings = sum(f.severity == "warning" for f in d.findings)
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def verdict(d: results.Diagnosis) -> Text:
    """ok, FAILED (naming the inputs whose gradient is wrong) or nothing checked, with the counts."""
    nothing = next((f for f in d.findings if f.code == "nothing-checked"), None)
    if nothing is not None:
        return Text(f"not ok: {words.message(nothing)} ({_counts(d)})", style="bold yellow")
    if d.ok:
        return Text(f"ok: every gradient is right ({_counts(d)})", style="bold green")
    wrong = list(dict.fromkeys(f.input for f in d.errors if f.input))
    whose = (f"the gradient{'s' * (len(wrong) > 1)} for {', '.join(wrong)} "
             f"{'are' if len(wrong) > 1 else 'is'} wrong") if wrong else "the Function is wrong"
    return Text(f"FAILED: {whose} ({_counts(d)})", style="bold red")


def header(d: results.Diagnosis) -> Fit:
    """What was checked, and against what."""
    table = Table(show_header=False, box=None, padding=(0, 2), pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("target", f"{d.target}  ({KIND_LABELS.get(d.kind, d.kind)})")
    shape = {True: "elementwise (detected)", False: "not elementwise (detected)", None: "elementwise: not tested"}
    table.add_row("inputs", f"{len(d.inputs)} in {d.dtype}; {shape[d.elementwise]}")
    truth = TRUTH_NOTES.get(d.truth, d.truth)
    table.add_row("truth", truth + (f": {d.reference}" if d.reference else ""))
    return Fit(table)


def closing(d: results.Diagnosis) -> Fit:
    """The Python warnings the user's code raised, and the verdict."""
    table = Table(show_header=False, box=None, padding=(0, 2), pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for text in d.warnings:
        table.add_row("python warning", Text(text, style="yellow"))
    table.add_row("verdict", verdict(d))
    return Fit(table)


def view(d: results.Diagnosis, show_all: bool = False) -> Group:
    """`backprop check` of a tensor Diagnosis: what was checked, capabilities, findings (and the
    worst elements they list), inputs, cost, verdict, a blank line between them."""
    parts: list[RenderableType] = [header(d), capability_table(d), findings_table(d, show_all), input_table(d),
                                   Group(cost_line(d.cost), closing(d))]
    spaced: list[RenderableType] = []
    for part in parts:
        spaced += [part, Text("")]
    return Group(*spaced[:-1])


def failure_line(d: results.Diagnosis) -> str | None:
    """The one line on stderr when the check fails: the first error (or nothing-checked); None if ok."""
    if d.ok:
        return None
    first = next((f for f in d.findings if f.severity == "error" or f.code == "nothing-checked"), None)
    if first is None:
        return f"check failed for {d.target}"
    return f"check failed for {d.target}: {first.code}: {words.message(first)}"


def render(run, console, show_all: bool = False) -> None:
    """Print `backprop check`'s run (app/check.CheckRun) on `console`; ``show_all``: every row."""
    console.print(doctor(run.diagnosis, show_all))
