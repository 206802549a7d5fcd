"""The report's settings: the one place every default is written down.

The typed config models (config.py) take their defaults from here. It is kept
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
SINC = {"x": [2.0], "dtype": "float64"}  # the worked example of section 3.2
QUAD = {"x": [1.0], "y": [1.0], "a": 1.0, "b": 2.0, "c": 3.0, "dtype": "float64"}  # section 3.3
SOFTPLUS = {"x": [0.5], "dtype": "float64"}  # section 3.4
FUNCTIONS = {"sinc": SINC, "quad": QUAD, "softplus": SOFTPLUS}
