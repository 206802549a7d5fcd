"""The truth a custom gradient is judged against, as vector–Jacobian and Jacobian–vector products.

First of: the --reference (a plain-torch implementation with the same signature, through
autograd); autograd through the Function's own forward ops, trusted for an input only where it
agrees with finite differences along a few random directions (a forward that detaches, uses
.numpy() or no_grad is caught); central finite differences in float64 (core/finite_diff.py),
Richardson-extrapolated.

Finite differences give J u for a direction u at the cost of a few forward calls, never Jᵀv:
the true VJP's element i is ⟨v, J e_i⟩, one directional difference per element. So an input
whose truth is finite differences is known on every element only when it is small, and on a
random sample of its elements otherwise (``known``); a dense Jacobian is never built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backpropcli.core import finite_diff
from backpropcli.doctor import traced as traces

REFERENCE = "reference"
AUTOGRAD = "autograd through forward"
FINITE = "finite differences"
DISAGREE = "autograd through forward disagrees with finite differences"
AGREEMENT_DIRECTIONS = 2  # random directions autograd through forward must agree with the differences on
FD_ALL = 64  # an input this small gets every element by differences; a larger one a sample
FD_SAMPLE = 48  # elements sampled from a larger input
EXTRAPOLATIONS = 2  # Richardson passes: error O(h^6), ~1e-13 relative


@dataclass
class Truth:
    source: str  # "reference" | "autograd through forward" | "finite differences"
    # cotangents (one per output, None for a non-differentiable output) -> {input name: J^T v};
    # elements outside ``known`` are nan (not computed)
    vjp: Callable[[tuple], dict[str, Any]]
    # tangents {input name: u} -> (J u per output, None for a non-differentiable output)
    jvp: Callable[[dict[str, Any]], tuple]
    # the outputs as plain ops with autograd (for second derivatives); None when only finite
    # differences are trusted
    differentiable_forward: Callable[[dict[str, Any]], tuple] | None = None
    known: dict[str, Any] = field(default_factory=dict)  # input name -> bool mask; absent: every element
    sources: dict[str, str] = field(default_factory=dict)  # input name -> where its truth came from
    why: dict[str, str] = field(default_factory=dict)  # input name -> why autograd was not trusted
    # inputs whose traceable forward disagreed with the differences: their elements where the two
    # differ are nan in vjp (not judged), and a dot-product test along differences proves nothing
    doubted: frozenset[str] = frozenset()


def establish(subject, leaves: dict[str, Any], outputs: tuple, *, reference: Callable | None = None,
              seed: int = 0) -> Truth:
    """The truth at these float leaves. ``outputs`` are the Function's own at the leaves (they say
    which outputs are differentiable). ``subject`` is the counted one: every call is costed."""
    import torch

    diff = subject.differentiable_outputs(outputs)
    names = list(leaves)
    generator = torch.Generator().manual_seed(seed + 1)
    value = _value_function(subject, names, diff, len(outputs))
    fd_jvp = _fd_jvp(value, leaves, diff, len(outputs))
    if reference is not None:
        traced = _traced(lambda ls: call_as(subject, reference, ls), names)
        sources = dict.fromkeys(names, REFERENCE)
        why: dict[str, str] = {}
    else:
        # for a plain callable autograd through it is what is being checked: differences only
        traced = _traced(subject.call_forward, names) if subject.forward is not None else None
        fine = traces.fine_jvp(value, leaves, diff, len(outputs))
        sources, why = _trusted(traced, leaves, outputs, diff, (fd_jvp, fine), generator)
    diagonal = {n: d for n in names if sources[n] == FINITE
                and (d := _diagonal(value, leaves, n, outputs, diff, generator)) is not None}
    known = {n: _sample(leaves[n], generator) for n in names if sources[n] == FINITE and n not in diagonal}
    fd_vjp = _fd_vjp(value, leaves, known, diagonal, diff)

    # inputs whose autograd through forward was not trusted although forward is traceable: the
    # differences are the truth there, but where the two disagree element by element (a step too
    # large for a tiny element, a kink, a detach), neither is certain and the element is not judged
    doubted = [n for n in names if sources[n] == FINITE and why.get(n) == DISAGREE] \
        if traced is not None and reference is None else []

    def vjp(cotangents: tuple) -> dict[str, Any]:
        out: dict[str, Any] = {}
        traced_vjp = traced(leaves, cotangents) if traced is not None and (
            doubted or any(sources[n] != FINITE for n in names)) else {}
        out.update({n: g for n, g in traced_vjp.items() if sources[n] != FINITE})
        out.update(fd_vjp(cotangents, [n for n in names if sources[n] == FINITE]))
        for n in doubted:
            out[n] = uncertain_where_they_disagree(out[n], traced_vjp.get(n))
        return out

    # J u by differences for every source: a few forward calls per direction, ~1e-13 relative
    forward = None
    second = reference is None or not getattr(reference, "first_order_only", False)
    if traced is not None and second and all(s != FINITE for s in sources.values()):
        forward = (lambda ls: call_as(subject, reference, ls)) if reference is not None else subject.call_forward
    # J u through autograd too where it is trusted everywhere: exact, and differences along a
    # random direction straddle every kink of a piecewise-linear forward (traced.py)
    jvp = traces.autograd_jvp(forward, leaves, diff, fd_jvp) if forward is not None else fd_jvp
    everywhere = set(sources.values())
    source = everywhere.pop() if len(everywhere) == 1 else FINITE
    return Truth(source, vjp, jvp, forward, known, sources, why, frozenset(doubted))


def uncertain_where_they_disagree(differences, autograd, rtol: float = 1e-6):
    """The finite differences, nan (not known, so not judged) at the elements where autograd
    through forward is finite and differs from them by more than ``rtol``: no wrong verdict
    rests on a truth two methods do not agree on. Where autograd is not finite and the
    differences are (sin(x)/x through torch.where at 0), the differences stand."""
    import torch

    if autograd is None or tuple(autograd.shape) != tuple(differences.shape) or not bool(autograd.ne(0).any()):
        return differences  # autograd does not reach the input (.numpy(), a detach): the differences stand
    a, f = autograd.to(differences.dtype), differences
    scale = float(f[torch.isfinite(f)].abs().max()) if bool(torch.isfinite(f).any()) else 0.0
    disagree = torch.isfinite(a) & torch.isfinite(f) & ((a - f).abs() > rtol * (a.abs() + f.abs()) + 1e-9 * scale)
    return torch.where(disagree, torch.full_like(f, float("nan")), f)


def call_as(subject, fn: Callable, leaves: dict[str, Any]) -> tuple:
    from backpropcli.doctor.subject import as_tuple

    args, kwargs = subject.arguments(leaves)
    with traces.seeded():  # a random reference draws what forward draws (forward is seeded too)
        return as_tuple(fn(*args, **kwargs))


def _value_function(subject, names: list[str], diff: tuple[int, ...], n_out: int):
    """f(list of differentiable inputs) -> the differentiable outputs, run without grad (the
    Function's own forward: the value is what the user's code computes)."""
    import torch

    def value(tensors: list) -> tuple:
        with torch.no_grad():
            outs = subject.call(dict(zip(names, tensors)))
        return tuple(outs[k].detach() for k in diff)

    return value


def _fd_jvp(value, leaves: dict[str, Any], diff: tuple[int, ...], n_out: int):
    """J u by central differences along u in each input that has a tangent, summed over inputs."""
    names = list(leaves)
    base = [leaves[n].detach() for n in names]

    def jvp(tangents: dict[str, Any]) -> tuple:
        total: list | None = None
        for j, n in enumerate(names):
            if n not in tangents:
                continue
            part = finite_diff.directional(value, base, j, tangents[n], extrapolations=EXTRAPOLATIONS)
            total = list(part) if total is None else [a + b for a, b in zip(total, part)]
        per = dict(zip(diff, total or [None] * len(diff)))
        return tuple(per.get(k) for k in range(n_out))

    return jvp


def _fd_vjp(value, leaves: dict[str, Any], known: dict[str, Any], diagonal: dict[str, Any], diff: tuple[int, ...]):
    """Jᵀv: d ⊙ v where J is diagonal (d from one difference per step), else on the known elements,
    element i being ⟨v, J e_i⟩, one directional difference each."""
    import torch

    names = list(leaves)
    base = [leaves[n].detach() for n in names]

    def vjp(cotangents: tuple, which: list[str]) -> dict[str, Any]:
        cots = [c for c in cotangents if c is not None]
        out = {}
        for n in which:
            if n in diagonal:
                v = cotangents[diff[0]]
                out[n] = diagonal[n] * v.to(diagonal[n].dtype) if v is not None else torch.zeros_like(diagonal[n])
                continue
            j = names.index(n)
            x = base[j]
            g = torch.full_like(x, float("nan"))
            flat = g.view(-1)
            for i in known[n].reshape(-1).nonzero().flatten().tolist():
                e = torch.zeros_like(x).view(-1)
                e[i] = 1
                column = finite_diff.directional(value, base, j, e.view_as(x), extrapolations=EXTRAPOLATIONS)
                flat[i] = sum((c.to(col.dtype) * col).sum() for c, col in zip(cots, column))
            out[n] = g
        return out

    return vjp


def _diagonal(value, leaves: dict[str, Any], name: str, outputs: tuple, diff: tuple[int, ...], generator):
    """d with J = diag(d) when the one differentiable output moves element by element with this
    input (detected: J u by differences equals d ⊙ u for random u), else None. Then every element
    of the truth is known from a few forward calls, whatever the size."""
    import torch

    x = leaves[name]
    if len(diff) != 1 or tuple(outputs[diff[0]].shape) != tuple(x.shape):
        return None
    names = list(leaves)
    base = [leaves[n].detach() for n in names]
    j = names.index(name)
    (d,) = finite_diff.partials(value, base, j, extrapolations=EXTRAPOLATIONS)
    for _ in range(AGREEMENT_DIRECTIONS):
        u = torch.randn(x.shape, generator=generator, dtype=torch.float64).to(x)
        (along,) = finite_diff.directional(value, base, j, u, extrapolations=EXTRAPOLATIONS)
        both = torch.isfinite(along) & torch.isfinite(d)
        size = (d.abs() * u.abs())[both]
        scale = float(size.max()) if size.numel() else 0.0
        if not bool(((along - d * u).abs()[both] <= _agreement(outputs) * (size + scale)).all()):
            return None
        if not bool((torch.isfinite(along) == torch.isfinite(d)).all()):
            return None
    return d


def _sample(x, generator):
    """Which elements of x finite differences compute: all of a small input, a sample of a large one."""
    import torch

    mask = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    if x.numel() <= FD_ALL:
        mask[...] = True
        return mask
    picks = torch.randperm(x.numel(), generator=generator)[:FD_SAMPLE]
    mask.view(-1)[picks.to(x.device)] = True
    return mask


def _traced(call: Callable[[dict[str, Any]], tuple], names: list[str]):
    """Jᵀv through autograd of ``call``'s ops: (leaves, cotangents) -> {name: Jᵀv}; zeros for an
    input the outputs do not depend on (or that autograd cannot see: the disagreement finds it)."""
    import torch

    def vjp(leaves: dict[str, Any], cotangents: tuple) -> dict[str, Any]:
        fresh = {n: leaves[n].detach().clone().requires_grad_(True) for n in names}
        with torch.enable_grad():
            outs = call(fresh)
        pairs = [(o, c) for o, c in zip(outs, cotangents)
                 if c is not None and isinstance(o, torch.Tensor) and o.requires_grad]
        if not pairs:
            return {n: torch.zeros_like(fresh[n]) for n in names}
        grads = torch.autograd.grad([o for o, _ in pairs], [fresh[n] for n in names],
                                    [c.to(o.dtype) for o, c in pairs], allow_unused=True)
        return {n: (g.detach() if g is not None else torch.zeros_like(fresh[n])) for n, g in zip(names, grads)}

    return vjp


def precision(outputs: tuple) -> str:
    """The dtype the Function's values are computed in: the least precise of its differentiable
    outputs (a float32 output of float64 inputs carries float32's rounding into every difference)."""
    import torch

    from backpropcli.doctor.subject import Subject

    order = ["float64", "float32", "bfloat16", "float16"]
    names = [str(outputs[k].dtype).removeprefix("torch.") for k in Subject.differentiable_outputs(outputs)
             if isinstance(outputs[k], torch.Tensor)]
    return max((n for n in names if n in order), key=order.index, default="float64")


def _agreement(outputs: tuple) -> float:
    from backpropcli.core import tolerance

    dtype = precision(outputs)
    if dtype == "float64":
        return tolerance.agreement("autograd-and-differences")
    return tolerance.rtol(dtype, 1, "numerical")


def finite_only(v, output):
    """The cotangent with zeros where the output is not finite: such an element has no truth to
    judge against, and a nan there would poison every product it enters."""
    import torch

    return torch.where(torch.isfinite(output.detach()), v, torch.zeros_like(v))


def _trusted(traced, leaves, outputs, diff, jvps, generator) -> tuple[dict[str, str], dict[str, str]]:
    """Per input: autograd through forward where ⟨Jᵀv, u⟩ agrees with ⟨v, J u⟩ by differences on
    a few random directions, else finite differences (with the reason). ``jvps``: the
    extrapolated differences, and the fine-step ones that do not straddle a kink (traced.py),
    asked only where the first disagree."""
    import torch

    names = list(leaves)
    if traced is None:
        return dict.fromkeys(names, FINITE), {}
    why: dict[str, str] = {}
    sources = dict.fromkeys(names, AUTOGRAD)
    for _ in range(AGREEMENT_DIRECTIONS):
        cot = tuple(finite_only(torch.randn(o.shape, generator=generator, dtype=o.dtype).to(o.device), o)
                    if k in diff else None for k, o in enumerate(outputs))
        try:
            grads = traced(leaves, cot)
        except Exception as e:  # forward's ops cannot be traced: .numpy(), an op without a derivative
            return dict.fromkeys(names, FINITE), dict.fromkeys(names, f"{type(e).__name__}: {e}".splitlines()[0])
        for n in names:
            if sources[n] == FINITE:
                continue
            u = torch.randint(0, 2, leaves[n].shape, generator=generator).to(leaves[n]) * 2 - 1
            verdicts = (_agrees(jvp({n: u}), grads[n], u, cot, outputs) for jvp in jvps)
            if not any(v is not False for v in verdicts):  # lazily: the fine step only on a disagreement
                sources[n] = FINITE
                why[n] = DISAGREE
    return sources, why


def _agrees(along: tuple, grad, u, cot: tuple, outputs: tuple) -> bool | None:
    """⟨v, J u⟩ (differences) against ⟨Jᵀv, u⟩ (autograd); None where neither side is a number."""
    import torch

    lhs = sum(float(torch.where(c != 0, c * d, 0).sum()) for c, d in zip(cot, along)
              if c is not None and d is not None)
    rhs = float((grad * u).sum())
    if not (math.isfinite(lhs) or math.isfinite(rhs)):
        return None  # neither side has a number here (an overflow): no evidence either way
    size = float((grad.abs() * u.abs()).sum()) + abs(lhs)
    floor = sum(float((c.abs() * o.detach().abs()).sum()) for c, o in zip(cot, outputs) if c is not None)
    return abs(lhs - rhs) <= _agreement(outputs) * (size + floor * 1e-3)
