"""Samples of the tree along rays from a point, at three step sizes, and the estimates they settle on.

The rays from p are p + j·h·d for j = 1, 2, 3 and d = ±x, ±y (and the four diagonals for two
variables); h = s·2^-K with s the size of the coordinate. A try takes three step sizes (K = 64, 96,
128 first) at one working precision, 2·(finest K) + 192 bits. From the samples of a round:

    the limit along a ray      3R1 - 3R2 + R3                      (exact for a quadratic)
    one-sided derivatives      (-3F0 + 4R1 - R2)/2h, (2F0 - 5R1 + 4R2 - R3)/h^2
    central derivatives        the 5-point formulas, error O(h^4); the 4-corner mixed one

and `settle` takes an estimate at the finest step once the three agree (their differences shrink,
or sit at the rounding noise), with the last difference as its error bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath

from backpropcli.expressions.evaluate import Outside, Tree

EXTRA = 128  # working precision: 2·(finest K) + EXTRA bits
MAX_PREC = 1 << 14  # a point whose evaluation cancels beyond this is uncertain


# ---- evaluation -------------------------------------------------------------------------------


def value_at(tree: Tree, env: dict, prec: int, needed: int, perturb: dict | None = None):
    """The tree at ``env`` and a bound on its absolute error: (mpf, mpf). Where the cancellations the
    tree records leave fewer than ``needed`` good bits, it is evaluated again with that many more, and
    the difference between the two bounds the error: a value that is 0 in truth (sin(pi) at any
    precision is about 2^-prec) is then accepted as small rather than chased to ever more bits."""
    with mpmath.workprec(prec):
        v, loss = tree({k: +x for k, x in env.items()}, perturb)
    if loss <= prec - needed:
        return v, mpmath.ldexp(abs(v), loss - prec)
    higher = min(MAX_PREC, prec + min(loss, prec) + 64)
    with mpmath.workprec(higher):
        w, loss2 = tree({k: +x for k, x in env.items()}, perturb)
        # v's error is at most |w - v| plus w's; w carries (higher - prec) bits more than v
        return w, mpmath.ldexp(abs(w - v), prec - higher) + mpmath.ldexp(abs(w), min(loss2, higher) - higher)


class _Sampler:
    """F at p + offset·h (offset in units of each variable's step), cached, with the largest error
    bound of any sample (which sets the rounding noise of a difference)."""

    def __init__(self, tree: Tree, names: tuple[str, ...], point: dict, params: dict, K: int, prec: int,
                 centre=None) -> None:
        self.tree, self.names, self.prec, self.needed = tree, names, prec, prec - EXTRA + 64
        with mpmath.workprec(prec):
            self.base = {n: mpmath.mpf(point[n]) for n in names}
            self.params = {k: mpmath.mpf(v) for k, v in params.items()}
            self.steps = [mpmath.ldexp(1, exponent(point[n]) - K) for n in names]
        self.cache: dict[tuple, Any] = {} if centre is None else {(0,) * len(names): centre}
        self.error = mpmath.mpf(0)
        self.top = mpmath.mpf(0)
        self.arithmetic = prec + 128  # the stencils' own sums: guard bits below the samples' errors

    def __call__(self, offset: tuple[int, ...]):
        if offset not in self.cache:
            with mpmath.workprec(self.prec):
                env = {**self.params, **{n: self.base[n] + j * h for n, j, h in zip(self.names, offset, self.steps)}}
            try:
                v, error = value_at(self.tree, env, self.prec, self.needed)
                self.error = max(self.error, error)
                self.top = max(self.top, abs(v))
            except Outside as exc:
                v = exc
            self.cache[offset] = v
        return self.cache[offset]

    def noise(self, order: int, steps: list) -> Any:
        """A bound on the rounding error of a difference quotient of ``order`` (16: the stencils' weights)."""
        with mpmath.workprec(self.prec):
            denom = mpmath.mpf(1)
            for h in steps:
                denom *= h
            return 16 * (self.error + mpmath.ldexp(self.top, -self.arithmetic)) / denom


def exponent(v: float) -> int:
    """The binary exponent of a coordinate's size (0 for 0): steps are relative to it."""
    return int(mpmath.mag(v)) if v else 0


# ---- one try: three step sizes ----------------------------------------------------------------


def rays(k: int) -> list[tuple[int, ...]]:
    axes = [tuple(s if j == i else 0 for j in range(k)) for i in range(k) for s in (1, -1)]
    return axes + ([(1, 1), (1, -1), (-1, 1), (-1, -1)] if k == 2 else [])


def is_number(v) -> bool:
    return not isinstance(v, Outside)


class _Round:
    """The samples and estimates at one step size."""

    def __init__(self, sample: _Sampler, k: int, order: int) -> None:
        self.sample, self.k, self.order = sample, k, order
        self.f0 = sample((0,) * k)
        self.rays: dict[tuple, list] = {}
        self.kind: dict[tuple, str] = {}  # "real", or the kind of the first sample that is not
        for ray in rays(k):
            values = []
            for j in (1, 2, 3):
                v = sample(tuple(j * d for d in ray))
                if not is_number(v):
                    self.kind[ray] = v.kind
                    break
                values.append(v)
            else:
                self.kind[ray] = "real"
            self.rays[ray] = values

    def limit(self, ray) -> Any:
        r = self.rays[ray]
        with mpmath.workprec(self.sample.arithmetic):
            return 3 * r[0] - 3 * r[1] + r[2]

    def centre(self, limits: dict) -> Any:
        """F0, or at a removable singularity the mean of the limits along the rays in the domain."""
        if is_number(self.f0):
            return self.f0
        with mpmath.workprec(self.sample.arithmetic):
            return mpmath.fsum(limits.values()) / len(limits) if limits else None

    def estimates(self, f0) -> dict[tuple, Any]:
        """Every difference quotient the samples allow, keyed ("d1", ray), ("d2", ray), ("c1", i), ..."""
        s = self.sample
        out: dict[Any, tuple[Any, int, list]] = {}
        with mpmath.workprec(s.arithmetic):
            for ray, r in self.rays.items():
                if self.kind[ray] != "real":
                    continue
                i = next(j for j, d in enumerate(ray) if d)
                if sum(map(abs, ray)) == 1:  # an axis: one-sided derivatives of f in variable i
                    h, sign = s.steps[i], ray[i]
                    out["d1", ray] = (sign * (-3 * f0 + 4 * r[0] - r[1]) / (2 * h), 1, [h])
                    out["d2", ray] = ((2 * f0 - 5 * r[0] + 4 * r[1] - r[2]) / h**2, 2, [h, h])
                else:  # a diagonal: the one-sided derivative along the unit vector of (±h_x, ±h_y)
                    norm = mpmath.sqrt(s.steps[0] ** 2 + s.steps[1] ** 2)
                    out["dd", ray] = ((-3 * f0 + 4 * r[0] - r[1]) / (2 * norm), 1, [norm])
            for i in range(self.k):
                plus, minus = tuple(int(j == i) for j in range(self.k)), tuple(-int(j == i) for j in range(self.k))
                if self.kind[plus] == self.kind[minus] == "real":
                    p, m, h = self.rays[plus], self.rays[minus], s.steps[i]
                    # differences of mirrored samples first: exactly 0 for an even f, as it should be
                    out["c1", i] = ((8 * (p[0] - m[0]) - (p[1] - m[1])) / (12 * h), 1, [h])
                    out["c2", i] = ((16 * (p[0] + m[0]) - (p[1] + m[1]) - 30 * f0) / (12 * h**2), 2, [h, h])
                    out["c3", i] = (((p[1] - m[1]) - 2 * (p[0] - m[0])) / (2 * h**3), 3, [h, h, h])
            if self.k == 2 and all(self.kind[d] == "real" for d in rays(2)):
                corner = {d: self.rays[d][0] for d in rays(2)[4:]}
                hx, hy = s.steps
                out["mix"] = (((corner[1, 1] - corner[1, -1]) - (corner[-1, 1] - corner[-1, -1])) / (4 * hx * hy),
                              2, [hx, hy])
                for sx, sy in rays(2)[4:]:
                    q = (corner[sx, sy] - self.rays[sx, 0][0] - self.rays[0, sy][0] + f0) / (sx * sy * hx * hy)
                    out["quadrant", (sx, sy)] = (q, 2, [hx, hy])
        return {key: (value, s.noise(order, steps)) for key, (value, order, steps) in out.items()}


@dataclass(frozen=True)
class Settled:
    """What three estimates at shrinking steps settle on: a value with its error bound (``noise`` is
    the part of it that rounding makes), a divergence to ``sign``·inf, or nothing."""

    kind: str  # value, diverges, unsettled, missing
    value: Any = None
    error: Any = 0
    noise: Any = 0
    sign: int = 0


def settle(seq: list) -> Settled:
    if any(item is None for item in seq):
        return Settled("missing")
    (a, _), (b, _), (c, noise) = seq
    d_ab, d_bc = abs(a - b), abs(b - c)
    if d_bc <= 4 * noise:
        return Settled("value", c, d_bc + 4 * noise, d_bc + 4 * noise)
    if d_bc <= d_ab * mpmath.ldexp(1, -8):
        # a geometric convergence of ratio r leaves c within d_bc·r/(1 - r) of the limit
        return Settled("value", c, d_bc * min(1, 2 * d_bc / d_ab) + 4 * noise, 4 * noise)
    if a and b and c and mpmath.sign(a) == mpmath.sign(b) == mpmath.sign(c) and abs(a) < abs(b) < abs(c) \
            and d_bc >= d_ab / 2:
        return Settled("diverges", sign=int(mpmath.sign(c)))
    return Settled("unsettled")


class Try:
    """Three rounds at step sizes 2^-K for K in ``Ks``, and what they settle on."""

    def __init__(self, tree: Tree, names, point, params, Ks, order: int, prec: int) -> None:
        k = len(names)
        self.point = [point[n] for n in names]
        first = _Round(_Sampler(tree, names, point, params, Ks[0], prec), k, order)
        self.rounds = [first] + [_Round(_Sampler(tree, names, point, params, K, prec, first.f0), k, order)
                                 for K in Ks[1:]]
        self.k, self.order, self.prec = k, order, prec
        self.f0 = first.f0
        self.consistent = all(r.kind == first.kind for r in self.rounds)
        self.kind = first.kind
        self.limits = {ray: settle([(r.limit(ray), r.sample.noise(0, [])) for r in self.rounds])
                       for ray, kind in first.kind.items() if kind == "real"} if self.consistent else {}
        self.q: dict = {}

    @property
    def error(self):
        """The largest error bound of any sample."""
        return max(r.sample.error for r in self.rounds)

    def settle_estimates(self, centre_rays: list) -> None:
        """Settle every estimate; at a removable singularity F0 is the mean limit along ``centre_rays``."""
        per_round = []
        for r in self.rounds:
            limits = {ray: r.limit(ray) for ray in centre_rays}
            f0 = r.centre(limits)
            per_round.append(r.estimates(f0) if f0 is not None else {})
        keys = set().union(*per_round)
        self.q = {key: settle([e.get(key) for e in per_round]) for key in keys}
