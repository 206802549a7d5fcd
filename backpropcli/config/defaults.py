"""The regression's settings (report section 2.1), written down once.

RegressConfig (config.py) takes its defaults from here; a function's defaults
live in its registry entry (functions/). It is kept
free of pydantic so that `backprop --help` can show the defaults without
importing it (pydantic costs about 60 ms of start-up).
"""

REGRESS = {
    "x": [1.0, 2.0, 3.0, 4.0],  # report section 2.1
    "y": [0.0, -1.0, -2.0, -3.0],  # y = -x + 1
    "data": None,
    "w0": 0.3,
    "b0": -0.3,
    "lr": 0.01,
    "iters": 100,
    "dtype": "float32",
    "device": "cpu",
    "zero_grad": True,
    "tol": 1e-3,
    "log_every": 0,
}
