"""A plain callable of tensors (no hand-written backward): RMS norm, y = x / rms(x) · weight. Checked
for what it supports; its gradient is autograd's own."""

import torch


def make_inputs(n=64, d=256):
    gen = torch.Generator().manual_seed(20)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = (1 + 0.1 * torch.randn(d, generator=gen, dtype=torch.float64)).requires_grad_()
    return x, weight, 1e-6


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def reference(x, weight, eps):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) / x.shape[-1] + eps) * weight


SMALL = {"make_inputs": {"n": 3, "d": 4}}

EXPECTED = {"rms_norm": {"codes": []}}
