"""h's gradient transposed: end to end, W's step cannot even multiply by it; alone it can."""
from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    grads["r"] = 2 * (c["r"] - 1) / c["r"].numel()
    grads["h"] = ((c["h"] > 0) * grads["r"]).T  # transposed: (4, 8), not (8, 4)
    grads["W"] = p["x"].T @ grads["h"]
    grads["b"] = grads["h"].sum(0)
