"""Helpers for the classify tests: a doctor-like tolerance and the truth by autograd through plain
torch ops (never the code under test)."""

from __future__ import annotations

import torch

from backpropcli.doctor.classify import classify

F64 = torch.float64


def tol_of(truth: torch.Tensor) -> torch.Tensor:
    """A per-element tolerance like the doctor's: relative to the element and to the scale."""
    return 1e-9 * (truth.abs() + truth.abs().mean()) + 1e-12


def vjp(fn, inputs: dict, g):
    """The truth: autograd through fn's plain ops, J^T g for every float input."""
    leaves = {n: v.detach().clone().requires_grad_(True) if isinstance(v, torch.Tensor) and v.is_floating_point()
              else v for n, v in inputs.items()}
    out = fn(**leaves)
    diff = [n for n, v in leaves.items() if isinstance(v, torch.Tensor) and v.requires_grad]
    grads = torch.autograd.grad(out, [leaves[n] for n in diff], g, allow_unused=True)
    return out.detach(), {n: (gr if gr is not None else torch.zeros_like(leaves[n])) for n, gr in zip(diff, grads)}


def run(name, custom, truths, inputs, g, out, **kw):
    truth = truths[name]
    return classify(name, custom, truth, kw.pop("tol", tol_of(truth)), inputs=inputs, cotangents=(g,),
                    outputs=(out,), **kw)


def codes(findings):
    return [f.code for f in findings]


def linear_layer():
    """y = x @ W + b with x 64×32, W 32×32 (square, so a transpose keeps the shape), b 32."""
    gen = torch.Generator().manual_seed(1)
    inputs = {"x": torch.randn(64, 32, dtype=F64, generator=gen),
              "weight": torch.randn(32, 32, dtype=F64, generator=gen),
              "bias": torch.randn(32, dtype=F64, generator=gen)}
    g = torch.randn(64, 32, dtype=F64, generator=gen)
    out, truths = vjp(lambda x, weight, bias: x @ weight + bias, inputs, g)
    return inputs, g, out, truths
