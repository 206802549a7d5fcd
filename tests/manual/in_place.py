"""r's gradient is right when written, then masked in place to make h's: in a dict that changes r's."""
from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    grads["r"] = 2 * (c["r"] - 1) / c["r"].numel()
    g = grads["r"]
    g[c["h"] <= 0] = 0  # the relu's mask applied to the very tensor stored as r's gradient
    grads["h"] = g
    grads["W"] = p["x"].T @ grads["h"]
    grads["b"] = grads["h"].sum(0)
