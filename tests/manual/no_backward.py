from tiny import forward, inputs  # noqa: F401
