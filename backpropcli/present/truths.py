"""Words for a point that has no truth to judge against (not real, undefined, not differentiable, or
a truth the two methods do not settle), and for the check's findings about such points."""

from __future__ import annotations

import math

from backpropcli.doctor import codes
from backpropcli.present.fmt import full, num


def where(inputs: dict) -> str:
    return ", ".join(f"{k} = {full(v)}" for k, v in inputs.items())


def _v(x: float) -> str:
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return num(x, 6)


def _kind(kind: str) -> str:
    return {"complex": "not real", "pole": "infinite", "costly": "too costly to evaluate"}.get(kind, kind)


# the statuses whose line names the point itself ("f is not real at x = -1"); the others say "here"
NAMES_THE_POINT = ("not-real", "undefined")


def message(point, check=None) -> str:
    """One line: why this point has no verdict."""
    ref = point.reference
    status = point.status
    cause = getattr(ref, "cause", "")
    ev = dict(getattr(ref, "evidence", {}) or {})
    at = where(point.inputs)
    if status == "not-real":
        if cause == "complex-around":
            return f"f is real at {at} but not on either side of it: it has no derivative there"
        what = f" ({ev['what']})" if ev.get("what") else ""
        return f"f is not real at {at}{what}"
    if status == "undefined":
        limits = ev.get("limits", {})
        if cause == "pole":
            shown = ", ".join(f"{_ray(r)} {_v(v)}" for r, v in limits.items() if math.isinf(v))
            return f"f has no finite value at {at}: it grows without bound" + (f" ({shown})" if shown else "")
        return f"f has no limit at {at}: " + ", ".join(f"{_v(v)} {_ray(r)}" for r, v in limits.items())
    if status == "not-differentiable":
        return _not_differentiable(point, check, cause, ev)
    if status == "truth-uncertain":
        if cause == "disagree":
            parts = [f"{q}: symbolic {_v(d['symbolic'])}, numerical {_v(d['numerical'])}"
                     for q, d in ev.get("quantities", {}).items()]
            return "truth uncertain: the symbolic and numerical truths disagree (" + "; ".join(parts) + "); not judged"
        if cause == "costly":
            return f"truth uncertain: too costly to evaluate here ({ev.get('what', 'f')}); not judged"
        return "truth uncertain: the numerical derivatives do not settle here; not judged"
    return ""


def _ray(name: str) -> str:
    return {"right": "from the right", "left": "from the left"}.get(name, f"along {name}")


def _not_differentiable(point, check, cause: str, ev: dict) -> str:
    order = ev.get("order", 1)
    what = "differentiable" if order == 1 else "twice differentiable"
    if cause == "jump":
        limits = ", ".join(f"{_v(v)} {_ray(r)}" for r, v in ev.get("limits", {}).items())
        return f"not {what} here: f is not continuous (f = {_v(ev.get('value', math.nan))}, limit {limits})"
    if "direction" in ev and "along" in ev:
        return (f"not {what} here: along {ev['direction']} the derivative is {_v(ev['along'])}, the partial "
                f"derivatives give {_v(ev['from_partials'])}")
    if "quadrants" in ev:
        quads = ", ".join(f"{_v(v)} towards {r}" for r, v in ev["quadrants"].items())
        return f"not {what} here: the mixed derivative differs by side ({quads})"
    sides = [f"{side} {_v(ev[side])}" for side in ("left", "right") if side in ev]
    missing = [f"f is {_kind(ev[f'{side}_kind'])} {'left' if side == 'left' else 'right'} of it"
               for side in ("left", "right") if f"{side}_kind" in ev]
    text = f"not {what} here ({', '.join(sides)}" + (f"; {'; '.join(missing)}" if missing else "") + ")"
    if cause == "one-sided":
        text = f"not {what} here: only one-sided ({', '.join(sides + missing)})"
    graph = _autograd(point, check, ev)
    if graph is not None:
        both = "left" in ev and "right" in ev
        lo, hi = (min(ev["left"], ev["right"]), max(ev["left"], ev["right"])) if both else (0.0, 0.0)
        if both and math.isfinite(graph) and lo <= graph <= hi and order == 1:
            text += f"; autograd returns {_v(graph)}, a subgradient"
        else:
            text += f"; autograd returns {_v(graph)}"
    return text


def _autograd(point, check, ev: dict) -> float | None:
    """Autograd's value of the derivative that does not exist, where one variable is named."""
    var = ev.get("variable")
    if check is None or var not in check.variables or ev.get("order", 1) != int(check.order):
        return None  # a hessian check at a kink of f itself: autograd's f'' is not the missing f'
    comps = dict(check.entries(point))
    comp = comps.get(str(var) if check.order == 1 else str(var) * 2)
    return None if comp is None else getattr(comp, check.judged)


def finding_line(finding: dict, check) -> str:
    points = finding["points"]
    note = ""
    if finding["code"] == "numerical-truth":
        notes = {p.reference.note for p in check.points if p.checked and getattr(p.reference, "source", "") ==
                 "numerical" and p.reference.note}
        note = "; ".join(sorted(notes)) or "sympy gives no value there"
    template = codes.code(finding["code"]).points_message  # the registry: the only place a code's text lives
    return template.format(n=len(points), at=where(points[0]) if points else "", note=note)
