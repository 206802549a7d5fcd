"""r's gradient wrong at two elements that share no condition (a stray write)."""
from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    g = 2 * (c["r"] - 1) / c["r"].numel()
    g[0, 1] += 1.0  # stray writes
    g[5, 3] -= 1.0
    grads["r"] = g
    grads["h"] = (c["h"] > 0) * grads["r"]
    grads["W"] = p["x"].T @ grads["h"]
    grads["b"] = grads["h"].sum(0)
