from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    grads["r"] = 2 * (c["r"] - 1) / c["r"].numel()
    grads["h"] = grads["r"]  # relu's mask forgotten
    grads["W"] = p["x"].T @ grads["h"]
    grads["b"] = grads["h"].sum(0)
