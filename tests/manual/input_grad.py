"""Correct, and also writes a gradient for x, an input inputs() does not mark requires_grad."""
from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    grads["r"] = 2 * (c["r"] - 1) / c["r"].numel()
    grads["h"] = (c["h"] > 0) * grads["r"]
    grads["W"] = p["x"].T @ grads["h"]
    grads["b"] = grads["h"].sum(0)
    grads["x"] = grads["h"] @ p["W"].T
