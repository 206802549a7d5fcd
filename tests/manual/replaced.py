"""h feeds both a and b; its gradient is written in two parts, the second replacing the first
(the classic forgotten +=)."""
import torch


def inputs():
    g = torch.Generator().manual_seed(0)
    return {"x": torch.randn(8, 4, generator=g, dtype=torch.float64, requires_grad=True)}


def forward(p):
    h = torch.tanh(p["x"])
    a = h * 3
    b = h ** 2
    loss = (a + b).sum()
    return {"h": h, "a": a, "b": b, "loss": loss}


def backward(p, c, grads):
    grads["a"] = torch.ones_like(c["a"])
    grads["b"] = torch.ones_like(c["b"])
    grads["h"] = grads["a"] * 3
    grads["h"] = grads["b"] * 2 * c["h"]  # replaces the part through a: should be +=
    grads["x"] = grads["h"] * (1 - c["h"] ** 2)
