"""The second truth: f and its derivatives at a point by finite differences of the tree, at high precision.

No sympy and no rule of differentiation: the tree (evaluate.py) is sampled along rays from the
point at three step sizes, and one-sided, central and mixed difference quotients are settled
(stencils.py), first at steps of 2^-40..2^-64 of the coordinate: enough for an ordinary point,
and accepted only where it finds one. Otherwise, and where the steps do not settle, steps down
to 2^-128, 2^-576 and 2^-1152 are tried (a feature below the first steps, or a domain edge
closer than them), and more working bits where rounding noise is to blame; an estimate that
never settles leaves the truth uncertain.
Every quantity is settled to 2^-60 of what a float verdict can resolve there.

What the rays show is the point's kind, named rather than guessed:

    not-real            f is complex at the point (sqrt(-1)), or real there but not on either side
    undefined           f has no finite value and no limit (a pole; 0 along x but 1/2 along x = y)
    not-differentiable  f has a value but no derivative: a kink (left -1, right 1), a cusp (an
                        infinite one-sided derivative), a domain edge (one side only), a jump
    uncertain           the estimates do not settle, or f costs too much to evaluate here
    ok                  f (or its limit, at a removable singularity) and its derivatives

`conditioning` measures, for the verdict's rule, how far one rounding of each input (a variable,
a parameter, a float constant) moves each quantity: the sum of |w ∂q/∂w| over the inputs w.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mpmath

from backpropcli.expressions.evaluate import NotReal, Outside, Pole, TooCostly, Tree, inexact
from backpropcli.expressions.stencils import EXTRA, MAX_PREC, Settled, Try, exponent, is_number, rays, value_at

SETS = ((40, 52, 64), (64, 96, 128), (512, 544, 576), (1088, 1120, 1152))  # steps 2^-K, three a try
SAME = 60  # bits: estimates equal to 2^-60 relative are the same number for any float verdict
EPSILON_BITS = 60  # the relative perturbation of an input in `conditioning`


@dataclass
class Numerical:
    """f and its derivatives at one point (mpf), their error bounds, and what kind of point it is."""

    status: str  # ok, not-real, undefined, not-differentiable, uncertain
    cause: str = ""  # complex, complex-around, pole, no-limit, kink, one-sided, infinite, jump, costly, unsettled
    value: Any = None
    value_error: Any = 0
    gradient: list = field(default_factory=list)
    gradient_error: list = field(default_factory=list)
    hessian: list | None = None
    hessian_error: list | None = None
    removable: bool = False  # f itself is undefined at the point (0/0); the value is its limit
    resolution: list = field(default_factory=list)  # per quantity: sum |x_i ∂q/∂x_i|, what a verdict resolves
    evidence: dict = field(default_factory=dict)  # the numbers behind the cause (one-sided values, limits)


# ---- what the rays show -----------------------------------------------------------------------

FLOOR = mpmath.ldexp(1, -1040)  # an error below every float's resolution (float64 subnormals end at 2^-1074)


class _MorePrecision(Exception):
    """An estimate is settled but its rounding noise is larger than it may be: try again with more bits."""

    def __init__(self, bits: int) -> None:
        super().__init__(bits)
        self.bits = bits


def _same(a, ea, b, eb, scale=0) -> bool:
    """Two estimates agree within their error bounds (and 2^-60 of their size, or of ``scale``)."""
    return abs(a - b) <= ea + eb + mpmath.ldexp(max(abs(a), abs(b), scale), -SAME)


def _accurate(o: Settled):
    """(value, error, noise) of a settled final estimate."""
    return o.value, o.error, o.noise


def _enough(t: Try, found: Numerical, noises: list) -> Numerical | None:
    """``found`` once every quantity's error is below 2^-60 of what a float verdict can resolve there:
    of its size, or of what one rounding of each variable moves it by, sum |x_i ∂q/∂x_i| (the verdict
    allows 8u times that and more: core/tolerance.py), or below every float's resolution. Otherwise
    _MorePrecision when rounding noise is to blame, None when truncation is (a finer step is needed)."""
    xs = [abs(mpmath.mpf(v)) for v in t.point]
    k = t.k
    second = [[_value_or_zero(t.q.get(("c2", i))) if i == j else _value_or_zero(t.q.get("mix")) for j in range(k)]
              for i in range(k)]
    third = [_value_or_zero(t.q.get(("c3", i))) for i in range(k)]
    checks = [(found.value, found.value_error, noises[0], sum(x * abs(g) for x, g in zip(xs, found.gradient)))]
    checks += [(g, e, n, sum(x * abs(h) for x, h in zip(xs, second[i])))
               for i, (g, e, n) in enumerate(zip(found.gradient, found.gradient_error, noises[1:1 + k]))]
    if found.hessian is not None and found.hessian_error is not None:
        flat_noise = noises[1 + k:]
        for i in range(k):
            for j in range(k):
                resolution = xs[i] * abs(third[i]) if i == j else 0
                checks.append((found.hessian[i][j], found.hessian_error[i][j], flat_noise[i * k + j], resolution))
    found.resolution = [c[3] for c in checks]
    worst = None
    for value, error, noise, resolution in checks:
        bound = max(mpmath.ldexp(max(abs(value), resolution), -SAME), FLOOR)
        if error > bound:
            if noise * 2 < error:
                return None
            bits = int(mpmath.mag(error / bound)) + 16
            worst = bits if worst is None else max(worst, bits)
    if worst is not None:
        raise _MorePrecision(worst)
    return found


def _value_or_zero(o) -> Any:
    """|an estimate| where it is good to 2^-10 (enough for a resolution), else 0."""
    if o is None or o.kind != "value" or o.error > mpmath.ldexp(abs(o.value), -10):
        return 0
    return abs(o.value)


def _side(ray: tuple) -> str:
    return "right" if sum(ray) > 0 else "left"


def _shown(o: Settled) -> float:
    """A settled estimate as a float (its sign's infinity when it diverges)."""
    if o.kind == "value":
        return float(o.value)
    return float("inf") * o.sign if o.kind == "diverges" else float("nan")


def numerical(tree: Tree, names: tuple[str, ...], point: dict, params: dict, order: int = 1) -> Numerical:
    """The numerical truth at ``point`` (variables ``names``), up to derivatives of ``order``."""
    shift = _sensitivity_bits(tree, names, point, params)
    extra, tries = 0, [tuple(K + shift for K in Ks) for Ks in SETS]
    first = tries[0]
    while tries:
        Ks = tries[0]
        prec = 2 * Ks[-1] + EXTRA + extra
        if prec > MAX_PREC:
            return Numerical("uncertain", "costly", evidence={"what": f"more than {MAX_PREC} bits"})
        t = Try(tree, names, point, params, Ks, order, prec)
        if isinstance(t.f0, TooCostly):
            return Numerical("uncertain", "costly", evidence={"what": t.f0.what})
        if isinstance(t.f0, NotReal):
            return Numerical("not-real", "complex", evidence={"what": t.f0.what})
        try:
            result = _classify(t, names) if t.consistent else None
        except _MorePrecision as more:
            extra += more.bits
            continue
        # the first try's steps (2^-40 of the coordinate) are coarse: it may say "ok", but a point
        # without a derivative is only named from steps fine enough to see a domain edge at 1e-20
        if result is not None and (result.status == "ok" or Ks != first):
            return result
        tries.pop(0)  # an edge of the domain between the step sizes, or a feature below them: look closer
    return Numerical("uncertain", "unsettled")


def _sensitivity_bits(tree: Tree, names, point: dict, params: dict) -> int:
    """log2 of how much f magnifies a relative change of its inputs at the point, as the evaluator
    bounds it (sin(1e300·x): about 1000 bits): the steps start that much finer, below the scale on
    which f varies, instead of reaching it by refinement."""
    with mpmath.workprec(256):
        try:
            _, loss = tree({**{k: mpmath.mpf(v) for k, v in params.items()},
                            **{n: mpmath.mpf(point[n]) for n in names}})
        except Outside:
            return 0
    return int(loss) if 16 < loss <= SETS[-1][-1] else 0


def _classify(t: Try, names) -> Numerical | None:
    """The point's kind and truths from one try; None when an estimate did not settle."""
    if any(kind == "costly" for kind in t.kind.values()):
        return Numerical("uncertain", "costly", evidence={"what": "f beside the point"})
    if any(o.kind == "unsettled" for o in t.limits.values()):
        return None
    domain = [ray for ray, kind in t.kind.items() if kind == "real"]
    limits = {_ray_name(ray, names): _shown(t.limits[ray]) for ray in domain}
    if not domain:
        if any(kind == "pole" for kind in t.kind.values()):
            return Numerical("undefined", "pole", evidence={"limits": limits})
        return Numerical("not-real", "complex-around" if is_number(t.f0) else "complex")
    if isinstance(t.f0, Pole):
        if any(t.limits[ray].kind == "diverges" for ray in domain):
            return Numerical("undefined", "pole", evidence={"limits": limits})
        first = t.limits[domain[0]]
        if not all(_same(first.value, first.error, t.limits[r].value, t.limits[r].error) for r in domain):
            return Numerical("undefined", "no-limit", evidence={"limits": limits})
        with mpmath.workprec(t.prec + 128):
            mean = mpmath.fsum(t.limits[r].value for r in domain) / len(domain)
            spread = max(t.limits[r].error + abs(t.limits[r].value - mean) for r in domain)
        value, value_error, value_noise = mean, spread, max(t.limits[r].noise for r in domain)
        removable = True
    else:
        value, value_error, value_noise, removable = t.f0, t.error, t.error, False
        jumps = [r for r in domain if t.limits[r].kind != "value"
                 or not _same(t.limits[r].value, t.limits[r].error, value, value_error)]
        if jumps or any(kind == "pole" for kind in t.kind.values()):
            return Numerical("not-differentiable", "jump", value=value,
                             evidence={"value": float(value), "limits": limits})
    t.settle_estimates(domain if removable else [])
    found = Numerical("ok", value=value, value_error=value_error, removable=removable)
    return _derivatives(t, names, found, [value_noise])


def _ray_name(ray: tuple, names) -> str:
    """'right'/'left' for one variable; '+x', '-y', '+x+y' ... for two."""
    if len(names) == 1:
        return _side(ray)
    return "".join(f"{'+' if d > 0 else '-'}{n}" for d, n in zip(ray, names) if d)


def _derivatives(t: Try, names, found: Numerical, noises: list) -> Numerical | None:
    grad, grad_err = [], []
    for i in range(t.k):
        outcome = _one_variable(t, names, i, 1, found)
        if not isinstance(outcome, tuple):
            return outcome
        grad.append(outcome[0])
        grad_err.append(outcome[1])
        noises.append(outcome[2])
    found.gradient, found.gradient_error = grad, grad_err
    if t.k == 2:
        bad = _not_along_diagonals(t, names, found)
        if bad is not False:
            return bad
    if t.order < 2:
        return _enough(t, found, noises)
    diag = []
    for i in range(t.k):
        outcome = _one_variable(t, names, i, 2, found)
        if not isinstance(outcome, tuple):
            return outcome
        diag.append(outcome)
    if t.k == 1:
        found.hessian, found.hessian_error = [[diag[0][0]]], [[diag[0][1]]]
        return _enough(t, found, noises + [diag[0][2]])
    mix = t.q.get("mix", Settled("missing"))
    quads = [t.q.get(("quadrant", d), Settled("missing")) for d in rays(2)[4:]]
    if mix.kind == "unsettled" or any(o.kind == "unsettled" for o in quads):
        return None
    if mix.kind != "value" or any(o.kind != "value" or not _same(o.value, o.error, mix.value, mix.error)
                                  for o in quads):
        quadrants = {_ray_name(d, names): _shown(o) for d, o in zip(rays(2)[4:], quads)}
        return Numerical("not-differentiable", "kink", value=found.value, gradient=grad,
                         evidence={"order": 2, "variable": "".join(names), "quadrants": quadrants})
    m, em, nm = _accurate(mix)
    found.hessian = [[diag[0][0], m], [m, diag[1][0]]]
    found.hessian_error = [[diag[0][1], em], [em, diag[1][1]]]
    return _enough(t, found, noises + [diag[0][2], nm, nm, diag[1][2]])


def _one_variable(t: Try, names, i: int, order: int, found: Numerical):
    """(value, error) of the derivative of ``order`` in variable i; or the Numerical that says why there
    is none; or None when its estimates did not settle."""
    plus, minus = tuple(int(j == i) for j in range(t.k)), tuple(-int(j == i) for j in range(t.k))
    tag = "d1" if order == 1 else "d2"
    sides = {ray: t.q.get((tag, ray), Settled("missing")) for ray in (plus, minus) if t.kind[ray] == "real"}
    if any(o.kind in ("unsettled", "missing") for o in sides.values()):
        return None
    evidence: dict[str, Any] = {"order": order, "variable": names[i],
                                **{_side(r): _shown(o) for r, o in sides.items()}}
    for ray in (plus, minus):
        if t.kind[ray] != "real":
            evidence[f"{_side(ray)}_kind"] = t.kind[ray]
    base = dict(value=found.value, gradient=found.gradient)
    if any(o.kind == "diverges" for o in sides.values()):
        return Numerical("not-differentiable", "infinite", evidence=evidence, **base)
    if len(sides) < 2:
        return Numerical("not-differentiable", "one-sided", evidence=evidence, **base)
    right, left = sides[plus], sides[minus]
    if not _same(right.value, right.error, left.value, left.error, _secant(t, i, order)):
        return Numerical("not-differentiable", "kink", evidence=evidence, **base)
    central = t.q.get(("c1" if order == 1 else "c2", i), Settled("missing"))
    return _accurate(central) if central.kind == "value" else None


def _secant(t: Try, i: int, order: int) -> Any:
    """The size of the one-sided difference quotients of the finest samples along variable i: a kink
    shows as one-sided derivatives that differ by about this much; rounding, by 2^-60 of it at most."""
    r = t.rounds[-1]
    plus, minus = tuple(int(j == i) for j in range(t.k)), tuple(-int(j == i) for j in range(t.k))
    h = r.sample.steps[i]
    with mpmath.workprec(t.prec + 128):
        f0 = r.centre({ray: r.limit(ray) for ray, kind in r.kind.items() if kind == "real"})
        sizes = []
        for ray in (plus, minus):
            q = r.rays[ray]
            if f0 is None or len(q) < 3:
                continue
            if order == 1:
                sizes += [abs(q[0] - f0) / h, abs(q[2] - f0) / (3 * h)]
            else:
                sizes += [abs(q[1] - 2 * q[0] + f0) / h**2, abs(q[2] - 2 * q[1] + q[0]) / h**2]
        return max(sizes, default=0)


def _not_along_diagonals(t: Try, names, found: Numerical):
    """Two variables: f is differentiable only if its derivative along each diagonal is the one its
    partial derivatives predict (sqrt(abs(x*y)) at 0 has both partials 0, and |t| along x = y).
    False when it is; else the Numerical that says it is not, or None (not settled)."""
    grad, grad_err = found.gradient, found.gradient_error
    with mpmath.workprec(t.prec + 128):
        hx, hy = t.rounds[-1].sample.steps
        norm = mpmath.sqrt(hx**2 + hy**2)
        for ray in rays(2)[4:]:
            o = t.q.get(("dd", ray), Settled("missing"))
            if o.kind == "missing":
                continue
            if o.kind != "value":
                return None if o.kind == "unsettled" else Numerical(
                    "not-differentiable", "infinite", value=found.value, gradient=grad,
                    evidence={"order": 1, "variable": "".join(names), "direction": _ray_name(ray, names)})
            want = (ray[0] * hx * grad[0] + ray[1] * hy * grad[1]) / norm
            error = (abs(hx) * grad_err[0] + abs(hy) * grad_err[1]) / norm
            if not _same(o.value, o.error, want, error):
                return Numerical("not-differentiable", "kink", value=found.value, gradient=grad, evidence={
                    "order": 1, "variable": "".join(names), "direction": _ray_name(ray, names),
                    "along": float(o.value), "from_partials": float(want)})
    return False


# ---- the verdict's conditioning ---------------------------------------------------------------


def conditioning(tree: Tree, names: tuple[str, ...], point: dict, params: dict, order: int,
                 dtype: str = "float64") -> list[float]:
    """For f and each derivative up to ``order`` (f, the gradient, the Hessian row-major), the sum over
    the inputs w (variables, parameters, and the float constants the graph rounds) of |w ∂q/∂w|:
    how far one rounding of each input moves q, in units of the rounding. Central differences in a
    relative step of 2^-60 of w, each q itself from central differences at 448 bits."""
    inputs = [("var", n) for n in names if point[n]] + [("param", p) for p, v in params.items() if v]
    inputs += [("literal", i) for i, lit in enumerate(tree.literals) if inexact(lit, dtype)]
    total: list = []
    with mpmath.workprec(448):
        eps = mpmath.ldexp(1, -EPSILON_BITS)
        for kind, key in inputs:
            pair = []
            for sign in (1, -1):
                at, pars, perturb = dict(point), dict(params), None
                if kind == "var":
                    at[key] = mpmath.mpf(point[key]) * (1 + sign * eps)
                elif kind == "param":
                    pars[key] = mpmath.mpf(params[key]) * (1 + sign * eps)
                else:
                    perturb = {key: sign * eps}
                pair.append(_quantities(tree, names, at, pars, order, perturb))
            if pair[0] is None or pair[1] is None:
                continue  # an input at a domain edge: it moves nothing we can measure
            moved = [abs(a - b) / (2 * eps) for a, b in zip(*pair)]
            total = moved if not total else [s + m for s, m in zip(total, moved)]
    n = 1 + len(names) + (len(names) ** 2 if order >= 2 else 0)
    return [float(v) for v in total] if total else [0.0] * n


def _quantities(tree: Tree, names, point: dict, params: dict, order: int, perturb) -> list | None:
    """f, its gradient and (order 2) Hessian by 3-point central differences at steps 2^-96 of each
    coordinate's size (accurate to ~2^-190: plenty for a tolerance); None outside the domain."""
    prec, k = 448, len(names)
    with mpmath.workprec(prec):
        base = {n: mpmath.mpf(point[n]) for n in names}
        pars = {p: mpmath.mpf(v) for p, v in params.items()}
        steps = [mpmath.ldexp(1, exponent(float(point[n])) - 96) for n in names]

        def f(offset):
            env = {**pars, **{n: base[n] + j * h for n, j, h in zip(names, offset, steps)}}
            return value_at(tree, env, prec, 256, perturb)[0]

        try:
            f0 = f((0,) * k)
            out = [f0]
            unit = [tuple(int(j == i) for j in range(k)) for i in range(k)]
            side = {u: (f(u), f(tuple(-d for d in u))) for u in unit}
            out += [(side[u][0] - side[u][1]) / (2 * h) for u, h in zip(unit, steps)]
            if order >= 2:
                second = [(side[u][0] - 2 * f0 + side[u][1]) / h**2 for u, h in zip(unit, steps)]
                if k == 1:
                    out += second
                else:
                    hx, hy = steps
                    mix = (f((1, 1)) - f((1, -1)) - f((-1, 1)) + f((-1, -1))) / (4 * hx * hy)
                    out += [second[0], mix, mix, second[1]]
        except Outside:
            return None
    return out
