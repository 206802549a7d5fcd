"""JSON payloads of the commands, shared by the CLI and the report (one shape, defined once)."""

from __future__ import annotations

from pathlib import Path

from backpropcli.jsonify import plain


def regression(result, plots: list[Path]) -> dict:
    return {
        "command": "regress",
        "config": plain(result.config),
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
        "plots": [str(p) for p in plots],
    }


def check(result, cfg, plots: list[Path]) -> dict:
    def comparison(c) -> dict:
        entry = {m: getattr(c, m) for m in ("analytic", "custom", "autograd", "finite_difference")}
        if c.derivative_graph is not None:
            entry["derivative_graph"] = c.derivative_graph
        entry["abs_error"] = c.abs_error
        entry["ok"] = c.ok
        return entry

    points = []
    for p in result.points:
        item = {"inputs": p.inputs, "value": p.value, "value_analytic": p.value_analytic,
                "value_graph": p.value_graph}
        if p.gradients is not None:
            item["gradients"] = {v: comparison(c) for v, c in p.gradients.items()}
        else:
            item["hessian"] = {m: [[getattr(c, m) for c in row] for row in p.hessian]
                               for m in ("analytic", "custom", "autograd", "finite_difference")}
            if p.hessian[0][0].derivative_graph is not None:
                item["hessian"]["derivative_graph"] = [[c.derivative_graph for c in row] for row in p.hessian]
            item["hessian"]["abs_error"] = {m: [[c.abs_error[m] for c in row] for row in p.hessian]
                                            for m in ("custom", "autograd", "finite_difference")}
        item["graph_ok"], item["graph_digits_lost"] = p.graph_ok, p.graph_digits_lost
        item["ok"] = p.ok
        points.append(item)
    verdict_key = "gradcheck" if result.command == "grad" else "gradgradcheck"
    payload = {"command": result.command, "function": result.function, "config": plain(cfg)}
    if result.command == "hessian":
        payload["variables"] = result.variables
    payload.update({"params": result.params, "dtype": result.dtype, "rtol": result.rtol, "points": points,
                    verdict_key: result.verified, f"{verdict_key}_points": result.verified_points,
                    "graph_failures": len(result.graph_failures), "ok": result.ok,
                    "plots": [str(p) for p in plots]})
    return payload  # plain numbers already; nan and inf become strings when it is written


def trace(traced) -> dict:
    return {
        "title": traced.title,
        "nodes": [{"name": n.name, "expr": n.expr, "op": n.op, "value": n.value, "grad": n.grad} for n in traced.nodes],
        "edges": [{"from": e.source, "to": e.target, "local": e.local, "upstream": e.upstream,
                   "downstream": e.downstream, "rule": e.rule} for e in traced.edges],
    }
