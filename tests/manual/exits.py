import sys

from tiny import forward, inputs  # noqa: F401


def backward(p, c, grads):
    print("leaving")
    sys.exit(3)
