"""h's gradient starts as r's very tensor (no copy), then is masked in place: right for h, and in
a dict r's gradient is masked with it."""
from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    grads["r"] = 2 * (c["r"] - 1) / c["r"].numel()
    grads["h"] = grads["r"]
    grads["h"][c["h"] <= 0] = 0
    grads["W"] = p["x"].T @ grads["h"]
    grads["b"] = grads["h"].sum(0)
