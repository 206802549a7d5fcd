"""Is the Function elementwise? Detected, never assumed.

Elementwise means one differentiable output, of the shape of every differentiable input, whose
element i moves only with element i of each input: every Jacobian block is diagonal, J = diag(d).
Then Jᵀv = d ⊙ v for every cotangent v, so two cotangents v₁, v₂ give (Jᵀv₁) ⊙ v₂ = (Jᵀv₂) ⊙ v₁.
A Jacobian with any off-diagonal entry breaks that equality for random v₁, v₂ with probability
one (a row-wise softmax, a cumsum, a matmul), at the cost of one more true VJP.
"""

from __future__ import annotations

from typing import Any

from backpropcli.core import tolerance
from backpropcli.doctor.truth import precision


def detect(truth, leaves: dict[str, Any], outputs: tuple, first: tuple, first_vjp: dict[str, Any],
           generator) -> bool | None:
    """``first`` is a cotangent already used and ``first_vjp`` its true VJP; None (not tested) when
    the first comparison produced no VJP to test with (the backward raised)."""
    import torch

    from backpropcli.doctor.subject import Subject

    if any(n not in first_vjp for n in leaves):
        return None
    diff = Subject.differentiable_outputs(outputs)
    if len(diff) != 1:
        return False
    out = outputs[diff[0]]
    if any(tuple(x.shape) != tuple(out.shape) for x in leaves.values()):
        return False
    v2 = tuple(torch.randn(o.shape, generator=generator, dtype=torch.float64).to(o.device) if k in diff else None
               for k, o in enumerate(outputs))
    second = truth.vjp(v2)
    v1, w2 = first[diff[0]].to(torch.float64), v2[diff[0]]
    dtype = precision(outputs)  # a float32 output's truth carries float32's rounding
    rtol = tolerance.agreement("elementwise") if dtype == "float64" else tolerance.rtol(dtype, 1, "numerical")
    for n in leaves:
        a, b = first_vjp[n] * w2, second[n] * v1
        known = torch.isfinite(a) & torch.isfinite(b)
        if not bool(known.any()):
            return False
        gap = (a - b).abs()[known]
        size = (a.abs() + b.abs())[known]
        if not bool((gap <= rtol * (size + float(size.max()) * 1e-6)).all()):
            return False
    return True
