"""`backprop manual`: each step of a hand-written backward, how each wrong one is wrong, the verdict."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from backpropcli.present.fmt import error as err
from backpropcli.present.fmt import num
from backpropcli.present.terminal.fit import Fit

STATUS_STYLE = {"exact": "green", "close": "green", "wrong": "bold red", "missing": "yellow",
                "not-an-intermediate": "yellow"}


def shape_text(shape) -> str:
    """(32, 5), (5,), (): a shape as Python writes it."""
    if shape is None:
        return "-"
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _note(step, values=()) -> str:
    """What the steps table says beside a step: its finding's code, what it inherits, what is missing."""
    if step.findings:
        return ", ".join(dict.fromkeys(f.code for f in step.findings))
    if step.inherits_from is not None:
        return f"inherits {step.inherits_from}"
    if step.status == "missing":
        return "a parameter's gradient: never written" if step.leaf else "not written"
    if step.status == "not-an-intermediate":  # an input, not marked to differentiate, has no true gradient
        if step.leaf:
            return "an input without requires_grad"
        # forward returns it, computed from no input that requires grad (a mask, a constant)
        return "needs no gradient" if step.name in values else f"forward returns no {step.name}"
    if step.written_shape is not None and step.shape is not None and step.written_shape != step.shape:
        return f"shape {shape_text(step.written_shape)}"
    return ""


def steps_table(result) -> Fit:
    table = Table(title=f"The steps of backward in {result.file}, in the order written", title_justify="left",
                  box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True, show_edge=False)
    for name, justify in (("step", "left"), ("shape", "left"), ("status", "left"), ("max abs err", "right"),
                          ("alone", "center"), ("why", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "why")  # type: ignore[arg-type]
    for s in result.steps:
        alone = "-" if s.status in ("missing", "not-an-intermediate") else ("✓" if s.local_ok else "✗")
        table.add_row(s.name, shape_text(s.shape), Text(s.status, style=STATUS_STYLE[s.status]),
                      err(s.max_abs_error), Text(alone, style="green" if s.local_ok else "bold red"),
                      _note(s, result.values))
    return Fit(table, label_columns=1)


def findings(result) -> list[RenderableType]:
    """Each locally wrong step: what is wrong, in the registry's words, and the one-line fix."""
    parts: list[RenderableType] = []
    if not any(s.findings for s in result.steps):
        return parts
    from backpropcli.present import findings as words

    for s in result.steps:
        for f in s.findings:
            message, where = words.message(f), words.place(f)
            parts.append(Text.assemble((f"✗ {s.name}", "bold red"), f" [{f.code}]: {message}"))
            if where.startswith("[") and where not in message:  # the elements a fix may refer to
                shown, count = where.count("["), f.extra.get("count")
                more = f" (the {shown} worst of {count})" if isinstance(count, int) and count > shown else ""
                parts.append(Text(f"  at: {where.removesuffix(', …')}{more}"))
            parts.append(Text(f"  fix: {words.fix(f)}"))
    return parts


def verdict(result) -> Text:
    wrong = [s.name for s in result.steps if not s.local_ok and s.status != "missing"]
    inherit = [s.name for s in result.steps if s.inherits_from is not None]
    if result.ok:
        closes = sum(s.status == "close" for s in result.steps)
        how = f" ({closes} close, the rest exact)" if closes else ""
        return Text(f"ok: every step of backward is right{how}", style="bold green")
    if not wrong:
        missing = ", ".join(result.missing_leaves)
        return Text(f"FAILED: backward writes no gradient for {missing}", style="bold red")
    more = f"; {len(inherit)} step(s) right alone inherit its error end to end" if inherit else ""
    return Text(f"FAILED: {len(wrong)} step(s) wrong on their own ({', '.join(wrong)}); the root cause is "
                f"{result.first_wrong}, the first{more}", style="bold red")


def trace_table(result) -> Fit:
    """The graph of the intermediates (what each is computed from), the true gradient beside the
    student's at the element where they differ most (a right one: at its largest element)."""
    from backpropcli.doctor.manual_trace import nodes

    table = Table(title="The graph: what each node is computed from; the true gradient and yours (end to end) "
                  "where they differ most (a right one: at its largest)", title_justify="left", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False, collapse_padding=True, show_edge=False)
    for name in ("node", "computed from", "at", f"∂{result.loss}/∂node", "yours"):
        left = name in ("node", "computed from", "at")
        table.add_column(name, no_wrap=name != "computed from", justify="left" if left else "right")
    for n in nodes(result):
        yours = num(n.yours, 6) if n.yours is not None else (f"shape {shape_text(n.yours_shape)}"
                                                              if n.yours_shape is not None else "-")
        at = "" if n.index is None else "[" + ", ".join(map(str, n.index)) + "]"
        table.add_row(n.name, " ".join(n.parents) or "input", at, num(n.truth, 6),
                      Text(yours, style="bold red" if n.wrong else ""))
    return Fit(table, label_columns=1)


def manual(result, trace: bool = False) -> Group:
    """The steps table, the findings with their fixes, the graph (--trace) and the verdict."""
    parts: list[RenderableType] = [steps_table(result), *findings(result)]
    if result.end_to_end_failure:
        parts.append(Text(f"end to end (on its own gradients) {result.end_to_end_failure}; the steps are "
                          "judged alone", style="yellow"))
    if trace:
        parts.append(trace_table(result))
    parts.append(verdict(result))
    return Group(*parts)



def student_notes(result) -> dict:
    """The explorer's Student entries: each judged step's gradient (end to end) and what is wrong with it."""
    from backpropcli.doctor.manual_trace import flat
    from backpropcli.present import explorer
    from backpropcli.present import findings as words

    notes = {}
    for s in result.steps:
        mine = s.student if s.student is not None else s.local
        if s.truth is None or mine is None:
            continue
        # marked wrong: the steps wrong on their own (the page links each); one that only inherits an
        # error shows its wrong number with a note, unmarked, so the marks lead to what to fix
        why = "; ".join(words.message(f) for f in s.findings) or (
            f"right on the true upstream gradients; end to end it inherits {s.inherits_from}'s error"
            if s.inherits_from else "")
        notes[s.name] = explorer.Student(grad=flat(mine), wrong=not s.local_ok, note=why)
    return notes
