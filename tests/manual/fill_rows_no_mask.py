"""h filled row by row, the relu mask forgotten."""
import torch
from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    grads["r"] = 2 * (c["r"] - 1) / c["r"].numel()
    grads["h"] = torch.zeros_like(c["h"])
    for i in range(c["h"].shape[0]):
        grads["h"][i] = grads["r"][i]
    grads["W"] = p["x"].T @ grads["h"]
    grads["b"] = grads["h"].sum(0)
