"""Starts from grads["loss"] = 1.0 (right: the seed), then sums b's gradient keeping its dim:
summed, but of shape (1, 4) for b's (4,)."""
from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    grads["loss"] = 1.0
    grads["r"] = 2 * (c["r"] - 1) / c["r"].numel() * grads["loss"]
    grads["h"] = (c["h"] > 0) * grads["r"]
    grads["W"] = p["x"].T @ grads["h"]
    grads["b"] = grads["h"].sum(0, keepdim=True)
