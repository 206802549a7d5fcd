from tiny import inputs  # noqa: F401


def forward(p):
    h = p["x"] @ p["W"] + p["b"]
    return {"h": h, "loss": h.sum(0)}


def backward(p, c, grads):
    grads["h"] = 1.0
