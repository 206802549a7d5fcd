"""Scaled dot-product attention, out = softmax(q kᵀ / √d) v over the keys, and realistic bugs.

With S = q kᵀ s (s = 1/√d), P = softmax(S), out = P v and grad_output g:
    dP = g vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP)),  grad_q = dS k s,  grad_k = dSᵀ q s,  grad_v = Pᵀ g.
"""

import math

import torch
import torch.nn.functional as F
from torch.autograd import Function


def make_inputs(b=4, length=64, d=64):
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(b, length, d, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    return q, k, v


def reference(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)


SMALL = {"make_inputs": {"b": 2, "length": 3, "d": 2}}


def _probs(q, k):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)


def _grads(q, k, v, p, g):
    s = 1 / math.sqrt(q.shape[-1])
    dp = g @ v.transpose(-2, -1)
    ds = p * (dp - (p * dp).sum(-1, keepdim=True))
    return ds, ds @ k * s, ds.transpose(-2, -1) @ q * s, p.transpose(-2, -1) @ g


class Attention(Function):
    """Correct and complete: backward recomputes P from the saved q, k (differentiable), jvp, vmap."""

    generate_vmap_rule = True

    @staticmethod
    def forward(q, k, v):
        return _probs(q, k) @ v

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, g):
        q, k, v = ctx.saved_tensors
        _, grad_q, grad_k, grad_v = _grads(q, k, v, _probs(q, k), g)
        return grad_q, grad_k, grad_v

    @staticmethod
    def jvp(ctx, q_t, k_t, v_t):
        q, k, v = ctx.saved_tensors
        p = _probs(q, k)
        ds = (q_t @ k.transpose(-2, -1) + q @ k_t.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        dp = p * (ds - (p * ds).sum(-1, keepdim=True))
        return dp @ v + p @ v_t


class AttentionNoRowsum(Attention):
    """Bug: softmax's backward written as P ⊙ dP, without subtracting rowsum(P ⊙ dP) — q's and k's
    gradients are wrong (v's is right)."""

    @staticmethod
    def backward(ctx, g):
        q, k, v = ctx.saved_tensors
        p = _probs(q, k)
        s = 1 / math.sqrt(q.shape[-1])
        ds = p * (g @ v.transpose(-2, -1))
        return ds @ k * s, ds.transpose(-2, -1) @ q * s, p.transpose(-2, -1) @ g


class AttentionUnscaledGradK(Attention):
    """Bug: the 1/√d scale forgotten in grad_k only, so k's gradient is √d = 8 times the truth."""

    @staticmethod
    def backward(ctx, g):
        q, k, v = ctx.saved_tensors
        ds, grad_q, _, grad_v = _grads(q, k, v, _probs(q, k), g)
        return grad_q, ds.transpose(-2, -1) @ q, grad_v


EXPECTED = {
    "Attention": {"codes": []},
    "AttentionNoRowsum": {"codes": ["wrong-gradient"], "input": "q"},
    "AttentionUnscaledGradK": {"codes": ["scaled-by"], "input": "k", "factor": 8.0},
}
