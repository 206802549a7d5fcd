"""double-backward: differentiating the custom backward gives the truth's second derivative.

For each differentiable input x_i, with a random cotangent v (made to require grad, so a backward
that only scales grad_output still has a graph) and a random tangent u_i on x_i alone:
g = Jᵀv through the custom backward with create_graph, then ∂/∂x ⟨g_i, u_i⟩ — the Hessian of
⟨f, v⟩ times u_i — compared with the truth's (second.py). A backward built from intermediates
saved in forward (constants to autograd) gets the first derivative right and this one wrong:
wrong-second-derivative (a warning). A backward under once_differentiable, or one whose result
autograd did not record (detach, .numpy(), no_grad), is not-twice-differentiable.
Cost: 1 forward and 1 + (number of differentiable inputs) backward calls; without a
differentiable truth, 8 more forward and backward calls per input for the differences.
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import SECOND_ORDER, call, cotangents, fresh, good, one_line, row, tangents, vjp
from backpropcli.doctor.probes.second import difference_hvp, truth_hvp
from backpropcli.doctor.results import Finding

NAME = "double-backward"


def _custom(ctx: ProbeContext):
    """(leaves, cotangents, g): the custom first derivative with its graph."""
    leaves = fresh(ctx)
    outputs = call(ctx, leaves)
    cots = cotangents(outputs, 21)
    held = tuple(None if c is None else c.clone().requires_grad_(True) for c in cots)
    return leaves, cots, vjp(ctx, leaves, outputs, held, create=True)


def _unrecorded(g: torch.Tensor) -> str | None:
    """Why autograd cannot differentiate this gradient, or None when it can."""
    if not g.requires_grad:
        return "backward's result is not recorded by autograd (detach, .numpy() or no_grad in backward)"
    if g.grad_fn is not None and "Error" in type(g.grad_fn).__name__:
        # once_differentiable records a node that raises only when reached; look at it instead
        return "backward is marked @once_differentiable"
    return None


def _truth(ctx: ProbeContext, cots: tuple, u: dict):
    """(H·u, allowed error per input or None for the doctor's tolerance, what it was compared with)."""
    exact = truth_hvp(ctx, cots, u)
    if exact is not None:
        return exact, None, f"the truth's second derivative ({ctx.truth.source}, reverse over reverse)"
    best, allowed = difference_hvp(ctx, cots, u)
    return best, allowed, "central differences of the custom first derivative"


def _close(ctx, got, want, allowed, name) -> bool:
    if allowed is None:
        return good(ctx, got, want, name, SECOND_ORDER)
    return bool(((got.detach() - want).abs() <= allowed)[torch.isfinite(want)].all())


def run(ctx: ProbeContext) -> ProbeResult:
    try:
        leaves, cots, g = _custom(ctx)
    except Exception as e:
        return row(NAME, None, f"skipped: backward raises {one_line(e)}", "")
    findings, wrong_first, compared, any_judged = [], [], "", False
    for name in ctx.subject.differentiable:
        u = tangents(ctx, 31, only=name)
        want, allowed, compared = _truth(ctx, cots, u)
        judged = [n for n in want if ctx.first_ok.get(n, True) or allowed is None]
        if not judged:
            continue  # differences of a wrong first derivative are no truth for its second
        any_judged = True
        why = _unrecorded(g[name])
        if why is not None:
            if all(_close(ctx, torch.zeros_like(want[n]), want[n], allowed and allowed[n], n) for n in judged):
                continue  # a zero second derivative is the truth here
            findings.append(Finding("not-twice-differentiable", input=name, extra={"why": why}))
            continue
        try:
            ctx.cost.backward_calls += 1
            got = torch.autograd.grad((g[name] * u[name]).sum(), list(leaves.values()), retain_graph=True,
                                      allow_unused=True)
        except Exception as e:
            findings.append(Finding("not-twice-differentiable", input=name, extra={"why": one_line(e)}))
            continue
        got_d = {n: torch.zeros_like(leaves[n]) if x is None else x for n, x in zip(leaves, got)}
        if all(_close(ctx, got_d[n], want[n], allowed and allowed[n], n) for n in judged):
            continue
        if ctx.first_ok.get(name, True):
            findings.append(Finding("wrong-second-derivative", input=name))
        else:
            wrong_first.append(name)
    if not any_judged:
        return row(NAME, None, "skipped: the first derivative is wrong and the truth has no second", "")
    return _verdict(findings, wrong_first, compared)


def _verdict(findings: list[Finding], wrong_first: list[str], compared: str) -> ProbeResult:
    if any(f.code == "not-twice-differentiable" for f in findings):
        return row(NAME, False, "a second backward is not possible", compared, findings)
    if findings:
        names = ", ".join(f.input or "" for f in findings)
        return row(NAME, False, f"the second derivative for {names} differs from the truth's", compared, findings)
    if wrong_first:
        return row(NAME, False, f"the second derivative for {', '.join(wrong_first)} differs (its first "
                   "derivative is already wrong)", compared)
    return row(NAME, True, "H·u matches the truth's on random directions", compared)
