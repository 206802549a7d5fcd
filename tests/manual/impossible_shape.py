import torch
from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    grads["r"] = 2 * (c["r"] - 1) / c["r"].numel()
    grads["h"] = (c["h"] > 0) * grads["r"]
    grads["W"] = torch.zeros(3, 5, dtype=torch.float64)  # no gradient of a (4, 4) W has this shape
    grads["b"] = grads["h"].sum(0)
