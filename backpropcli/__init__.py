"""backprop: make backpropagation visible and checkable."""

__version__ = "0.1.0"
