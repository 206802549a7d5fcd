"""compile: under torch.compile the Function's values and gradients equal eager's.

Only with --compile (compiling takes seconds). The call is compiled (TorchDynamo traces the
autograd.Function, forward and custom backward, into one graph; backend from
options["compile_backend"], default inductor), run on fresh leaves, and its gradient for one
random cotangent compared with eager's custom gradient within the doctor's tolerance. PyTorch
has dropped custom backwards under compile: a difference is compiled-gradient-differs (an
error); a compile that fails is a warning. Cost: 2 forward and 2 backward calls, and the compile.
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext, ProbeResult
from backpropcli.doctor.probes.common import agree, call, cotangents, device, fresh, good, one_line, row, seeded, vjp
from backpropcli.doctor.results import Finding

NAME = "compile"
COMPARED = "eager autograd (the custom backward)"


def run(ctx: ProbeContext) -> ProbeResult:
    if not ctx.options.get("compile"):
        return row(NAME, None, "not run: --compile runs it", "")
    leaves = fresh(ctx)
    outputs = call(ctx, leaves)
    cots = cotangents(outputs, 161)
    eager = vjp(ctx, leaves, outputs, cots)
    names = ctx.subject.differentiable

    def f(*xs):
        return ctx.subject.call(dict(zip(names, xs)), device=device(ctx))

    backend = ctx.options.get("compile_backend") or "inductor"
    compiled_leaves = fresh(ctx)
    try:
        compiled = torch.compile(f, backend=backend, dynamic=False)
        ctx.cost.forward_calls += 1
        with seeded():
            got = compiled(*(compiled_leaves[n] for n in names))
        grads = vjp(ctx, compiled_leaves, tuple(got), cots)
    except Exception as e:
        return row(NAME, None, f"compile fails: {one_line(e)}", COMPARED,
                   [Finding("compile-fails", extra={"why": one_line(e)})])
    finally:
        torch._dynamo.reset()  # drop the compiled graph: nothing else will call it
    if not all(agree(a, b, 1e-6) for a, b in zip(got, outputs)):
        return row(NAME, False, f"compiled ({backend}) values differ from eager's", COMPARED,
                   [Finding("compiled-gradient-differs", input=n) for n in names])
    findings = [Finding("compiled-gradient-differs", input=n) for n in names
                if not good(ctx, grads[n], eager[n].detach(), n)]
    if findings:
        return row(NAME, False, f"compiled ({backend}) gradient differs from eager's for "
                   f"{', '.join(f.input or '' for f in findings)}", COMPARED, findings)
    return row(NAME, True, f"compiled ({backend}) values and gradients equal eager's", COMPARED)
