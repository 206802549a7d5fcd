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


def make_bias_inputs(b=4, length=64, d=64):
    """q, k, v and a bias over the keys (length,), broadcast over batch and queries: a key-padding or
    ALiBi-style bias. The score matrix is square (queries × keys), so summing over the wrong one of
    those two dimensions still gives a gradient of the bias's shape."""
    q, k, v = make_inputs(b, length, d)
    bias = torch.randn(length, generator=torch.Generator().manual_seed(3), dtype=torch.float64,
                       requires_grad=True)
    return q, k, v, bias


def reference(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)


def reference_with_bias(q, k, v, bias):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias.expand(q.shape[-2], -1))


SMALL = {"make_inputs": {"b": 2, "length": 3, "d": 2}, "make_bias_inputs": {"b": 2, "length": 3, "d": 2}}


def _probs(q, k, bias=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    return torch.softmax(scores, dim=-1)


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


class AttentionBiasWrongDim(Function):
    """Bug: the key bias's gradient summed over batch and keys (dims 0, 2) instead of batch and
    queries (dims 0, 1). q, k, v's gradients are right."""

    generate_vmap_rule = True

    @staticmethod
    def forward(q, k, v, bias):
        return _probs(q, k, bias) @ v

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, g):
        q, k, v, bias = ctx.saved_tensors
        ds, grad_q, grad_k, grad_v = _grads(q, k, v, _probs(q, k, bias), g)
        return grad_q, grad_k, grad_v, ds.sum((0, 2))

    @staticmethod
    def jvp(ctx, q_t, k_t, v_t, bias_t):
        q, k, v, bias = ctx.saved_tensors
        p = _probs(q, k, bias)
        ds = (q_t @ k.transpose(-2, -1) + q @ k_t.transpose(-2, -1)) / math.sqrt(q.shape[-1]) + bias_t
        dp = p * (ds - (p * ds).sum(-1, keepdim=True))
        return dp @ v + p @ v_t


EXPECTED = {
    "Attention": {"codes": []},
    "AttentionNoRowsum": {"codes": ["wrong-gradient"], "input": "q"},
    "AttentionUnscaledGradK": {"codes": ["scaled-by"], "input": "k", "factor": 8.0},
    "AttentionBiasWrongDim": {"codes": ["missing-broadcast-sum"], "input": "bias",
                              "make_inputs": "make_bias_inputs", "reference": "reference_with_bias"},
}
