"""JSON payloads of the commands, shared by the CLI and the report (one shape, defined once)."""

from __future__ import annotations

from pathlib import Path

from backpropcli.doctor.results import Diagnosis
from backpropcli.present import findings as words
from backpropcli.present import tables, truths
from backpropcli.present.jsonfmt import plain

FIGURE_SUFFIXES = (".png",)


def written(paths: list[Path]) -> dict:
    """`plots` lists the figures only; `files` every file the command wrote."""
    return {"plots": [str(p) for p in paths if Path(p).suffix in FIGURE_SUFFIXES],
            "files": [str(p) for p in paths]}


def regress_config(result) -> dict:
    """The resolved config; with a data file, x and y are null (the defaults were not used)."""
    config = plain(result.config)
    if config.get("data") is not None:
        config["x"] = config["y"] = None
    return config


def regression(result, files: list[Path]) -> dict:
    return {
        "command": "regress",
        "config": regress_config(result),
        "W": result.W,
        "b": result.b,
        "final_loss": result.final_loss,
        "initial_loss": result.initial_loss,
        "losses": result.losses,
        "optimum": plain(result.optimum),
        "distance": result.distance,
        "grad_norm": result.grad_norm,
        "lr_max": result.curvature.lr_max,
        "iters_run": result.iters_run,
        "iters_to_converge": result.iters_to_converge,
        "verdict": result.verdict,
        "converged": result.converged,
        "diverged": result.diverged,
        "stopped_at": result.stopped_at,
        "device": result.device,
        **written(files),
    }


def _comparison(c) -> dict:
    entry = c.methods()
    entry = {"analytic": c.analytic, **entry}
    entry["abs_error"] = c.abs_error
    entry["ok"] = c.ok
    if c.conditioning is not None:
        entry["conditioning"] = c.conditioning  # C of the verdict's rule, where it mattered
    if c.digits_lost is not None:
        entry["digits_lost"] = c.digits_lost
    return entry


def _hessian(point) -> dict:
    first = point.hessian[0][0]
    methods = ["analytic", *first.methods()]
    matrix: dict[str, object] = {m: [[getattr(c, m) for c in row] for row in point.hessian] for m in methods}
    matrix["abs_error"] = {m: [[c.abs_error[m] for c in row] for row in point.hessian]
                           for m in methods if m in first.abs_error and m != "derivative_graph"}
    return matrix


def check(result, cfg, files: list[Path]) -> dict:
    """The grad (order 1) or hessian (order 2) payload; a point's and the check's ``extra``
    fields are added as they are."""
    points = []
    for p in result.points:
        item = {"inputs": p.inputs, "value": p.value, "value_analytic": p.value_analytic,
                "value_graph": p.value_graph}
        if result.order == 1:
            item["gradients"] = {v: _comparison(c) for v, c in p.gradients.items()}
        else:
            item["hessian"] = _hessian(p)
        item["graph_ok"], item["graph_digits_lost"] = p.graph_ok, p.graph_digits_lost
        item["ok"] = p.ok
        item["status"] = p.status
        item["truth"] = _truth(p, result)
        item.update(p.extra)
        points.append(item)
    verdict_key = result.order.gradcheck_name
    payload = {"command": result.command, "function": result.function, **result.extra, "config": plain(cfg)}
    if result.order == 2:
        payload["variables"] = result.variables
    payload.update({"params": result.params, "dtype": result.dtype, "rtol": result.rtol, "points": points,
                    verdict_key: result.gradcheck, f"{verdict_key}_points": result.gradcheck_points,
                    "graph_failures": len(result.graph_failures), "checked": result.checked,
                    "unchecked": result.unchecked,
                    "findings": [{**f, "message": truths.finding_line(f, result)} for f in result.findings],
                    "ok": result.ok, **written(files)})
    return payload  # plain numbers already; nan and inf become strings when it is written


def _truth(point, check) -> dict:
    """Where a point's truth comes from, and why a point without one has none."""
    ref = point.reference
    out = {"source": getattr(ref, "source", "") or "closed form", "note": getattr(ref, "note", "")}
    if not point.checked:
        out.update({"cause": ref.cause, "evidence": dict(ref.evidence), "message": truths.message(point, check)})
    return out


def trace(traced) -> dict:
    return {"title": tables.trace_title(traced), "nodes": list(tables.node_rows(traced)),
            "edges": list(tables.edge_rows(traced))}


def views(shown) -> dict:
    """The JSON fields of a run's graph views (app/views.GraphViews): its trace, and PyTorch's
    backward graph as trees; none when no view was asked for."""
    fields: dict = {}
    if shown is None:
        return fields
    if shown.trace is not None:
        fields["trace"] = trace(shown.trace)
    if shown.autograd_graph is not None:
        fields["autograd_graph"] = shown.autograd_graph
    return fields


def _gradient(g) -> dict:
    """One partial derivative of `check`, under grad's names: `analytic` is the truth it is judged against
    (the reference, or autograd through forward, or the finite difference: `truth_source` says which)."""
    methods = {"custom": g.custom, "autograd": g.autograd, "finite_difference": g.finite_difference}
    return {"analytic": g.truth, **methods, "truth_source": g.truth_source,
            "abs_error": {m: g.abs_error[m] for m in methods if m in g.abs_error}, "ok": g.ok}


def diagnosis(result, reference: str | None = None) -> dict:
    """The `check` payload, without the files: of a doctor.results.Diagnosis (the tensor doctor,
    checks.diagnosis), or of the scalar doctor's older Diagnosis while it remains."""
    if isinstance(result, Diagnosis):
        return diagnosis_tensor(result)
    return {
        "command": "check", "target": result.target, "kind": result.kind, "variables": result.variables,
        "params": result.params, "dtype": result.dtype, "reference": reference, "truth": result.truth,
        "ok": result.ok, "checked": result.checked, "unchecked": result.unchecked,
        "capabilities": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in result.capabilities],
        "findings": [f.as_dict() for f in result.findings],
        "points": [{"inputs": p.inputs, "value": p.value,
                    "gradients": {v: _gradient(g) for v, g in p.gradients.items()}, "ok": p.ok}
                   for p in result.points],
        "warnings": result.warnings, "timings": result.timings,
    }


def doctor(run) -> dict:
    """`backprop check TARGET --json`: the diagnosis, the reference's text and the files."""
    return {**diagnosis(run.diagnosis, run.reference), **written(run.files)}


# ---- check: the tensor doctor's Diagnosis (doctor/results.py) --------------------------------------


def raw(value):
    """An extra's value as JSON: tensors as nested lists, shapes and indices as lists, the rest
    as jsonfmt.plain makes it (nan and inf as strings)."""
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, str)):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): raw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [raw(v) for v in value]
    return plain(value)


def finding(f) -> dict:
    """{code, severity, input, output, message, fix, place, ...extra}: the words filled by
    present/findings.py, every raw value of extra beside them (a key of extra never hides one
    of the fixed keys)."""
    entry = {"code": f.code, "severity": f.severity, "input": f.input, "output": f.output,
             "message": words.message(f), "fix": words.fix(f), "place": words.place(f)}
    for key, value in f.extra.items():
        if key not in entry:
            entry[key] = raw(value)
    return entry


def input_report(r) -> dict:
    return {"name": r.name, "shape": list(r.shape), "dtype": r.dtype, "differentiable": r.differentiable,
            "ok": r.ok, "max_abs_error": plain(r.max_abs_error), "max_rel_error": plain(r.max_rel_error),
            "worst_index": None if r.worst_index is None else list(r.worst_index), "pattern": r.pattern}


SCALAR_KEYS = ("variables", "params", "points", "checked", "unchecked")


def diagnosis_tensor(d: Diagnosis) -> dict:
    """The `check` payload of a doctor.results.Diagnosis, without files and plots (SPEC.md)."""
    return {
        "command": "check", "target": d.target, "kind": d.kind, "truth": d.truth, "ok": d.ok,
        "elementwise": d.elementwise, "dtype": d.dtype, "reference": d.reference,
        "inputs": [input_report(r) for r in d.inputs],
        "capabilities": [{"name": c.name, "ok": c.ok, "detail": c.detail, "compared_with": c.compared_with}
                         for c in d.capabilities],
        "findings": [finding(f) for f in d.findings],
        "cost": {"forward_calls": d.cost.forward_calls, "backward_calls": d.cost.backward_calls,
                 "seconds": plain(d.cost.seconds)},
        "warnings": list(d.warnings),
        # the scalar form (--x/--y --a/--b/--c) keeps the keys it always had, from the doctor's details
        **{key: raw(d.details[key]) for key in SCALAR_KEYS if key in d.details},
    }


ERROR_KINDS = (("ConfigError", "config"), ("InputError", "input"), ("UsageProblem", "usage"),
               ("OutputError", "output"), ("TimedOut", "timeout"))


def error_kind(exc: BaseException) -> str:
    """"input", "config", "usage", "output", "timeout", or "error": the most specific class of
    backpropcli.errors (or a timeout) the exception is."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return next((kind for name, kind in ERROR_KINDS if name in names), "error")


def check_error(problem: BaseException | str, kind: str | None = None) -> dict:
    """`check --json` on exit 2 still prints one object: {"command": "check", "ok": false,
    "error": {"message": ..., "kind": ...}}; kind from the exception's class unless given."""
    if isinstance(problem, BaseException):
        message, kind = str(problem), kind or error_kind(problem)
    else:
        message, kind = problem, kind or "error"
    return {"command": "check", "ok": False, "error": {"message": message, "kind": kind}}


# ---- manual: a hand-written backward judged step by step (doctor/manual.py) ---------------------


def manual(run) -> dict:
    """`backprop manual FILE.py --json` (issue 24's shape, plus the file, the loss and the files)."""
    result = run.result
    steps = [{"name": s.name, "shape": None if s.shape is None else list(s.shape), "status": s.status,
              "local_ok": s.local_ok, "max_abs_error": s.max_abs_error, "inherits_from": s.inherits_from,
              "findings": [finding(f) for f in s.findings]} for s in result.steps]
    return {"command": "manual", "file": result.file, "ok": result.ok, "first_wrong": result.first_wrong,
            "loss": result.loss, "loss_value": result.loss_value, "dtype": result.dtype,
            "end_to_end_failure": result.end_to_end_failure, "steps": steps, **written(run.files)}


def manual_error(problem: BaseException) -> dict:
    """`manual --json` on exit 2 still prints one object, as check does."""
    return {**check_error(problem), "command": "manual"}
