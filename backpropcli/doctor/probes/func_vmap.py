"""torch.func.vmap: the Function batched over a new leading dimension gives the unbatched values.

A batch of two: the inputs as given and a copy nudged by 1 % (same signs, so the same domain),
only the differentiable inputs batched. Each batch row is compared with an eager call on that
row. No vmap rule (generate_vmap_rule or a vmap staticmethod) is a warning, no-vmap-rule.
Cost: 3 forward calls.
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import agree, device, random_like, refused, row, seeded

NAME = "torch.func.vmap"
COMPARED = "the unbatched calls (values)"


def batch(ctx: ProbeContext) -> dict[str, torch.Tensor]:
    out = {}
    for k, (name, v) in enumerate(ctx.leaves.items()):
        v = v.detach()
        out[name] = torch.stack([v, v * (1 + 0.01 * random_like(v, 61 + k))])
    return out


def run(ctx: ProbeContext) -> ProbeResult:
    names = ctx.subject.differentiable
    batched = batch(ctx)

    def f(*xs):
        return ctx.subject.call(dict(zip(names, xs)), device=device(ctx))

    try:
        ctx.cost.forward_calls += 1
        with seeded():
            got = torch.func.vmap(f)(*(batched[n] for n in names))
    except Exception as e:
        return refused(NAME, ctx, e, COMPARED, "forward")
    for b in range(2):
        ctx.cost.forward_calls += 1
        with seeded(), torch.no_grad():
            want = ctx.subject.call({n: batched[n][b] for n in names}, device=device(ctx))
        if len(got) != len(want) or not all(agree(g[b], w) for g, w in zip(got, want)):
            return row(NAME, False, f"batch row {b} differs from the unbatched call", COMPARED)
    return row(NAME, True, "each batch row equals the unbatched call", COMPARED)
