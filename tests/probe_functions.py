"""Hand-built Subjects and Truths for the probe tests: correct tensor Functions and one per bug.

The truth is a plain-torch reference written differently from the Function, through autograd:
vjp by torch.autograd.grad, jvp by the double-vjp trick (J u = ∂/∂v ⟨Jᵀv, u⟩).
"""

from __future__ import annotations

import torch

from backpropcli.doctor.probes import ProbeContext
from backpropcli.doctor.results import Cost
from backpropcli.doctor.subject import Input, Subject, as_tuple
from backpropcli.doctor.truth import Truth

F64 = torch.float64


def tensor(*shape, seed=0, positive=False):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(*shape, generator=g, dtype=F64)
    return t.abs() + 0.5 if positive else t


def subject(fn, inputs, forward=None, kind="function", name=None):
    """inputs: (name, value, differentiable) triples, in forward's order."""
    return Subject(name or getattr(fn, "__name__", "fn"), kind, apply=fn.apply if kind != "callable" else fn,
                   inputs=tuple(Input(n, v, d) for n, v, d in inputs), forward=forward,
                   function=fn if kind != "callable" else None)


def truth(subj: Subject, reference) -> Truth:
    def forward(leaves):
        args, kwargs = subj.arguments(leaves)
        return as_tuple(reference(*args, **kwargs))

    def vjp(cots):
        leaves = subj.leaves()
        outs = forward(leaves)
        pairs = [(o, c) for o, c in zip(outs, cots) if c is not None]
        names = list(leaves)
        grads = torch.autograd.grad([o for o, _ in pairs], [leaves[n] for n in names], [c for _, c in pairs],
                                    allow_unused=True)
        return {n: torch.zeros_like(leaves[n]) if g is None else g for n, g in zip(names, grads)}

    def jvp(tans):
        leaves = subj.leaves()
        outs = forward(leaves)
        vs = [torch.zeros_like(o, requires_grad=True) for o in outs]
        names = list(leaves)
        grads = torch.autograd.grad(outs, [leaves[n] for n in names], vs, create_graph=True, allow_unused=True)
        s = sum((g * tans[n]).sum() for n, g in zip(names, grads) if g is not None)
        return tuple(torch.autograd.grad(s, vs, allow_unused=True, materialize_grads=True))

    return Truth("reference", vjp, jvp, forward)


def tolerance(t, name):
    t = torch.as_tensor(t, dtype=F64)
    top = float(t.abs().max()) if t.numel() else 0.0
    return 1e-8 * (t.abs() + top) + 1e-12


def context(subj: Subject, reference, first_ok=None, **options) -> ProbeContext:
    ok = dict.fromkeys(subj.differentiable, True)
    ok.update(first_ok or {})
    return ProbeContext(subject=subj, truth=truth(subj, reference), leaves=subj.leaves(),
                        tolerance=tolerance, first_ok=ok, cost=Cost(), options=options)


# ---- references (plain torch, written differently) ---------------------------------------------

def linear_reference(x, w, b):
    return torch.einsum("ij,jk->ik", x, w) + b.unsqueeze(0)


def sigmoid_reference(x):
    return 1 / (1 + torch.exp(-x))


# ---- a correct linear layer with everything: setup_context, jvp, vmap rule ---------------------

class Linear(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, w, b):
        return x @ w + b

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, w, _ = inputs
        ctx.save_for_backward(x, w)
        ctx.save_for_forward(x, w)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w.T, x.T @ g, g.sum(0)

    @staticmethod
    def jvp(ctx, xt, wt, bt):
        x, w = ctx.saved_tensors
        return xt @ w + x @ wt + bt


def linear(fn=Linear, rows=4):
    return subject(fn, [("x", tensor(rows, 3, seed=1), True), ("w", tensor(3, 2, seed=2), True),
                        ("b", tensor(2, seed=3), True)], forward=lambda x, w, b: x @ w + b)


class Sigmoid(torch.autograd.Function):
    """Correct and twice differentiable: backward from the saved output with torch ops."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.sigmoid(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return g * s * (1 - s)

    @staticmethod
    def jvp(ctx, xt):
        (s,) = ctx.saved_tensors
        return xt * s * (1 - s)


def unary(fn, x=None, forward=torch.sigmoid):
    return subject(fn, [("x", tensor(3, 4, seed=5) if x is None else x, True)], forward=forward)


# ---- Function shapes: a 0-d loss with an int output, an in-place op with mark_dirty --------------

class MSELoss(torch.autograd.Function):
    """A 0-d mean squared error and the index of the largest residual (an int output)."""

    @staticmethod
    def forward(x, t):
        return ((x - t) ** 2).mean(), (x - t).abs().argmax()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, g, _):
        x, t = ctx.saved_tensors
        return g * 2 * (x - t) / x.numel(), None


def mse():
    subj = subject(MSELoss, [("x", tensor(6, seed=1), True), ("t", tensor(6, seed=2), False)],
                   forward=lambda x, t: (((x - t) ** 2).mean(), (x - t).abs().argmax()))
    return subj, lambda x, t: (((x - t) ** 2).sum() / x.numel(), (x - t).abs().argmax())


class AddInPlace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        x.add_(y)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, g):
        return g, g


def add_in_place():
    subj = subject(AddInPlace, [("x", tensor(3, seed=1), True), ("y", tensor(3, seed=2), True)],
                   kind="function-ctx")
    subj.dirty = True
    return subj, lambda x, y: x + y


# ---- torch.library custom ops (defined once: a second definition of the name would clash) ------

@torch.library.custom_op("backprop_probes::scale", mutates_args=())
def scale_op(x: torch.Tensor, a: float) -> torch.Tensor:
    return x * a


@scale_op.register_fake
def _scale_fake(x, a):
    return torch.empty_like(x)


@torch.library.custom_op("backprop_probes::scale_no_fake", mutates_args=())
def scale_no_fake(x: torch.Tensor, a: float) -> torch.Tensor:
    return x * a


def _scale_setup(ctx, inputs, output):
    ctx.a = inputs[1]


def _scale_backward(ctx, g):
    return g * ctx.a, None


for _op in (scale_op, scale_no_fake):
    _op.register_autograd(_scale_backward, setup_context=_scale_setup)
