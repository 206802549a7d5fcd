"""C in the verdict's rule (core/tolerance.py): how far one rounding of each input moves each truth.

For f, each entry of the gradient and of the Hessian: C = sum over the inputs w (variables and
parameters) of |w ∂q/∂w|, by a central difference of the 50-digit reference in a relative step
of 2^-20 of w. The reference is rounded to float64, so the difference carries an error of about
u·|q|/2^-20 = 1e-10·|q|, which moves the allowance 8u·C by 1e-25·|q|: nothing. A typed expression
gives its own (expressions/numeric.py: the float constants of the graph count as inputs too).
"""

from __future__ import annotations

import math

from backpropcli.core import finite_diff

STEP = 2.0**-20


def quantities(ref, variables, order: int) -> list[float]:
    """f, the gradient and (order 2) the Hessian row-major, as the conditioning lists them."""
    out = [ref.value] + [ref.gradient[v] for v in variables]
    if order >= 2 and ref.hessian is not None:
        out += [h for row in ref.hessian for h in row]
    return out


def measure(spec, ref, inputs: dict[str, float], params: dict[str, float], order: int,
            dtype: str = "float64") -> list[float]:
    """C for every quantity at ``inputs``, where ``ref`` is the reference there: its own conditioning
    where it has one, else central differences of the reference along each nonzero variable and
    parameter."""
    if ref.conditioning is not None:
        return ref.conditioning(dtype)
    total = [0.0] * len(quantities(ref, spec.variables, order))
    moves = [("var", v) for v in spec.variables if inputs[v]] + [("param", p) for p in spec.params if params[p]]
    for kind, name in moves:

        def moved(s: float, kind=kind, name=name) -> tuple[float, ...]:  # the quantities at w·(1 + s)
            at, pars = dict(inputs), dict(params)
            where = at if kind == "var" else pars
            where[name] = where[name] * (1 + s)
            return tuple(quantities(spec.reference(at, pars, order), spec.variables, order))

        for i, slope in enumerate(finite_diff.along(moved, STEP, extrapolations=0)[0]):
            if math.isfinite(slope):
                total[i] += abs(slope)
    return total
