"""The model every file here shares: h = x W + b, r = relu(h), loss = mean((r - 1)²).

Each other file defines backward with one classic mistake (or none: correct.py)."""

import torch

N, D = 8, 4  # W is square, so a transposed gradient has the right shape


def inputs():
    g = torch.Generator().manual_seed(1)
    return {"x": torch.randn(N, D, generator=g, dtype=torch.float64),
            "W": torch.randn(D, D, generator=g, dtype=torch.float64).requires_grad_(),
            "b": torch.randn(D, generator=g, dtype=torch.float64).requires_grad_()}


def forward(p):
    h = p["x"] @ p["W"] + p["b"]
    r = torch.relu(h)
    loss = ((r - 1) ** 2).mean()
    return {"h": h, "r": r, "loss": loss}
