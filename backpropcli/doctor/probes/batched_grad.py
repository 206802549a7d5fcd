"""batched-grad: torch.autograd.grad with is_grads_batched=True (vmap over the custom backward).

One forward, two random cotangents stacked along a new leading dimension, one batched backward;
each batch row compared with the truth's Jᵀv for its cotangent. A backward that cannot be vmapped
(.item(), data-dependent Python control flow) is a warning, no-batched-grad. Cost: 1 forward, 1
(batched) backward.
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import call, cotangents, fresh, good, limitation, one_line, row
from backpropcli.doctor.results import Finding

NAME = "batched-grad"
COMPARED = "the truth's Jᵀv for each of two random grad_outputs"


def run(ctx: ProbeContext) -> ProbeResult:
    leaves = fresh(ctx)
    outputs = call(ctx, leaves)
    rows = (cotangents(outputs, 91), cotangents(outputs, 92))
    keep = [k for k, c in enumerate(rows[0]) if c is not None]
    names = list(leaves)
    try:
        ctx.cost.backward_calls += 1
        got = torch.autograd.grad([outputs[k] for k in keep], [leaves[n] for n in names],
                                  [torch.stack([rows[0][k], rows[1][k]]) for k in keep],
                                  is_grads_batched=True, allow_unused=True)
    except Exception as e:
        why, finding = limitation(ctx, e, "backward")
        if finding is None and ("vmap" in str(e).lower() or "batch" in str(e).lower()):
            finding = Finding("no-batched-grad", extra={"why": one_line(e)})
        if finding is None:  # the backward fails unbatched too: the first comparison's finding
            return row(NAME, None, f"skipped: backward raises {why}", COMPARED)
        return row(NAME, None, f"not supported: {why}", COMPARED, [finding])
    wrong: list[str] = []
    for b, cots in enumerate(rows):
        want = ctx.truth.vjp(cots)
        for n, g in zip(names, got):
            mine = torch.zeros_like(want[n]) if g is None else g[b]
            if not good(ctx, mine, want[n], n) and n not in wrong:
                wrong.append(n)
    if wrong:
        return row(NAME, False, f"batched gradients differ from the truth for {', '.join(wrong)}", COMPARED)
    return row(NAME, True, "each batch row matches the truth", COMPARED)
