"""Correct, with the gradient of r accumulated in two parts (+= reads its own partial sum)."""
from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    grads["r"] = 2 * c["r"] / c["r"].numel()
    grads["r"] += -2 / c["r"].numel()
    grads["h"] = (c["h"] > 0) * grads["r"]
    grads["W"] = p["x"].T @ grads["h"]
    grads["b"] = grads["h"].sum(0)
    grads["hidden"] = grads["h"]  # forward returns no 'hidden'
