from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    grads["r"] = 2 * (c["r"] - 1)  # the mean's 1/numel forgotten
    grads["h"] = (c["h"] > 0) * grads["r"]
    grads["W"] = p["x"].T @ grads["h"]
    grads["b"] = grads["h"].sum(0)
