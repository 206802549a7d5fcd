from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    while True:
        pass
