"""What the elementwise custom Functions share: cache-sized chunks and a trivial vmap rule.

Each Function's forward is a short sequence of torch ops. Over 10^7 points every
op streams 80 MB through memory and allocates 80 MB more, so the sequence is
memory-bound; run over chunks that stay in cache, the same ops cost a fraction.

Each chunk runs on one intra-op thread. An op on 2^16 doubles takes tens of
microseconds, and torch would split it over every core (unary ops from 2,048
elements on): one OpenMP region, and one barrier, per op and chunk, about a
thousand per call. On a busy machine a region waits for whichever of its threads
the kernel has descheduled; measured with a busy-loop process per core, a 5-op
kernel on one chunk took 112 ms on 2 threads against 0.42 ms on one (and 34 ms
against 0.42 ms on this shared machine with no load of our own). One thread per chunk
also keeps MKL's lazily chosen kernels on the path the warm-up fixed
(warmup.py). Parallelism across chunks (a pool of one-thread workers) was
measured too: no clearer win on 2 cores, and two threads making first calls at
once is the very condition the warm-up is there to avoid. 2^16 was the fastest
chunk on one thread (2^13 to 2^18 measured: 700, 635, 531, 452, 544, 661 ms for
a 3-op kernel over 10^7 points).
The forwards also use data-dependent indexing (a series only where |x| is
small), which vmap cannot trace; the manual `vmap` rule below means they never
run under vmap: the batch dimension is moved to the front and the Function is
applied to the whole physical tensor, which is correct for any elementwise map.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# 2^16 float64 = 512 KB per temporary: a core's L2 (512 KB here) holds one, L3 the kernel's
# handful, and an op on a chunk is long enough (~50 µs) that Python's dispatch stays small.
CHUNK = 1 << 16


class one_thread:
    """Run torch ops on a single intra-op thread inside the block, then restore the count.

    torch.set_num_threads costs about a microsecond; a process-wide setting, so the
    block is kept to the chunk loop (nothing else runs inside it)."""

    def __enter__(self):
        self.threads = torch.get_num_threads()
        if self.threads != 1:
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.threads != 1:
            torch.set_num_threads(self.threads)
        return False


def chunked(kernel: Callable, tensors: tuple, scalars: tuple = ()):
    """kernel(*tensors, *scalars) evaluated chunk by chunk over same-shaped ``tensors``.

    ``scalars`` are passed whole (numbers or 0-d tensors). Returns what the kernel
    returns (one tensor or a tuple), shaped like ``tensors[0]``.
    """
    first = tensors[0]
    n = first.numel()
    same = all(t.shape == first.shape for t in tensors)
    small_scalars = all(not isinstance(s, torch.Tensor) or s.numel() == 1 for s in scalars)
    if n <= CHUNK or not same or not small_scalars:
        return kernel(*tensors, *scalars)
    scalars = tuple(s.reshape(()) if isinstance(s, torch.Tensor) else s for s in scalars)
    flat = [t.reshape(-1) for t in tensors]
    outs: list[torch.Tensor] = []  # allocated on the first piece, when its dtype and device are known
    single = True
    with one_thread():
        for start in range(0, n, CHUNK):
            piece = kernel(*(t[start:start + CHUNK] for t in flat), *scalars)
            single = isinstance(piece, torch.Tensor)
            pieces = (piece,) if single else piece
            if not outs:
                outs = [torch.empty(n, dtype=p.dtype, device=p.device) for p in pieces]
            for out, p in zip(outs, pieces):
                out[start:start + CHUNK] = p
    shaped = tuple(out.view(first.shape) for out in outs)
    return shaped[0] if single else shaped


def vmap_elementwise(apply: Callable, in_dims: tuple, *args, outputs: int = 1):
    """The vmap rule of an elementwise Function: batch dims to the front, aligned for
    broadcasting (a batched 0-d parameter becomes shape (B, 1, ..., 1)), then apply."""
    batched = [(a, d) for a, d in zip(args, in_dims) if d is not None]
    rank = max(a.dim() - (d is not None) for a, d in zip(args, in_dims) if isinstance(a, torch.Tensor))
    moved = []
    for a, d in zip(args, in_dims):
        if d is None:
            moved.append(a)
            continue
        a = a.movedim(d, 0)
        logical = a.dim() - 1
        moved.append(a.reshape(a.shape[0], *([1] * (rank - logical)), *a.shape[1:]))
    if not batched:
        return apply(*args), (None,) * outputs if outputs > 1 else None
    out = apply(*moved)
    # every output must carry the batch dimension it is declared to have: an output that does
    # not depend on the batched inputs (df/dy = b·x + 2c·y when only a is batched) comes back
    # unbatched, so it is expanded to the common shape (a view, no copy)
    shape = torch.broadcast_shapes(*(m.shape for m in moved if isinstance(m, torch.Tensor)))
    if outputs > 1:
        return tuple(o.expand(shape) for o in out), (0,) * outputs
    return out.expand(shape), 0


def real_input(x, function: str, name: str = "x"):
    """x as a real floating tensor, the one input convention of every Function here.

    Floating tensors (float64, float32, float16, bfloat16) pass unchanged; a Python
    number or an integer/bool tensor becomes a tensor of torch's default float dtype
    (as torch.sin does with an int tensor). Complex input is refused: these are real
    functions, and PyTorch's convention for a complex gradient is the conjugate
    Wirtinger derivative, which the hand-derived backwards do not compute.
    """
    if not isinstance(x, torch.Tensor):
        if isinstance(x, complex):
            raise TypeError(f"{function}: {name} is the complex number {x!r}; only real input is supported")
        if not isinstance(x, (int, float)):
            raise TypeError(f"{function}: {name} must be a real tensor or a number, got {type(x).__name__}")
        return torch.tensor(float(x), dtype=torch.get_default_dtype())
    if x.dtype.is_complex:
        raise TypeError(f"{function}: {name} has dtype {x.dtype}; complex input is not supported "
                        "(the derivatives here are for real x)")
    if not x.dtype.is_floating_point:
        return x.to(torch.get_default_dtype())
    return x


class UnsupportedTransform(RuntimeError):
    """A PyTorch transform that would silently give a wrong derivative through these Functions."""


def _functorch_levels() -> list[str]:
    from torch._C._functorch import peek_interpreter_stack

    interpreter = peek_interpreter_stack()
    if interpreter is None:
        return []
    from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters

    return [str(i.key()).rsplit(".", 1)[-1] for i in retrieve_all_functorch_interpreters()]


def refuse_compiled_transform(function: str) -> None:
    """Called in forward: torch.compile of a torch.func transform (torch.compile(torch.func.grad(f)))
    inlines the forward's ops and drops the custom backward (pytorch/pytorch#193279, #192985):
    sinc's gradient at 0 comes out nan. Refuse instead of returning that number."""
    if torch.compiler.is_compiling() and torch._C._functorch.peek_interpreter_stack() is not None:
        raise UnsupportedTransform(
            f"{function}: torch.compile over a torch.func transform drops its custom backward "
            "(pytorch/pytorch#193279, #192985); compile torch.autograd.grad instead, or run the transform eagerly")


def refuse_forward_over_forward(function: str) -> None:
    """Called in jvp: with two forward-mode levels (jacfwd(jacfwd(f)), jvp of jvp, jacfwd(hessian(f)))
    PyTorch drops the outer tangent of a custom Function and returns exactly 0
    (pytorch/pytorch#197867). Refuse instead of returning that 0."""
    if _functorch_levels().count("Jvp") >= 2:
        raise UnsupportedTransform(
            f"{function}: forward-over-forward (jacfwd of jacfwd, jvp of jvp) through a custom autograd.Function "
            "returns 0 in PyTorch (pytorch/pytorch#197867); use jacrev/grad for the outer derivatives, "
            "e.g. jacrev(jacrev(f)) or jacfwd(jacrev(f))")


def save_input(ctx, inputs, output) -> None:
    """setup_context of a one-input Function: keep x for backward and for jvp."""
    (x,) = inputs
    x = real_input(x, "input")
    ctx.save_for_backward(x)
    ctx.save_for_forward(x)
