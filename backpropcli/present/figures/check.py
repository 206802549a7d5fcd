"""`check --plot`: the worst (output, input) pair of a Diagnosis as truth | custom | difference.

What the doctor puts in ``Diagnosis.details["worst"]`` (a dict; raw tensors, no text):

* ``input``: the input's name; ``output``: the output's name, or None for a single output;
* ``truth`` and ``custom``: tensors of one shape: the true and the custom vector–Jacobian product
  for one grad_output (``product`` "vjp", the default, the input's shape), or a block of the
  Jacobian (``product`` "jacobian", rows are output elements, columns input elements);
* ``wrong``: a bool tensor of that shape, True where |custom − truth| > the element's tolerance
  (or ``tol``, the tolerances themselves, and the mask is computed here).

The pair is the input whose gradient is furthest from the truth (relative), also when every
gradient is right: the figure of a correct Function is an empty difference, which says as much.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backpropcli.doctor import results
from backpropcli.present.figures.heatmaps import array, heatmaps

PRODUCTS = {"vjp": "the vector–Jacobian product Jᵀv for one random grad_output v, as the input's shape",
            "jacobian": "a block of the Jacobian: rows are output elements, columns input elements"}


def worst(d: results.Diagnosis) -> dict[str, Any] | None:
    """details["worst"] when it holds two tensors of one shape to draw; None otherwise (a gradient of
    the wrong shape is named by its finding, there is no element-by-element picture of it)."""
    pair = d.details.get("worst")
    if not isinstance(pair, dict) or pair.get("truth") is None or pair.get("custom") is None:
        return None
    if tuple(array(pair["truth"]).shape) != tuple(array(pair["custom"]).shape):
        return None
    return pair


def wrong_mask(pair: dict[str, Any]):
    """The bool mask of wrong elements: given, or from the tolerances, or None (none marked)."""
    if pair.get("wrong") is not None:
        return pair["wrong"]
    if pair.get("tol") is not None:
        import numpy as np

        with np.errstate(invalid="ignore"):
            gap = np.abs(array(pair["custom"]) - array(pair["truth"]))
        return ~(gap <= array(pair["tol"]))  # nan counts as wrong
    return None


def title(d: results.Diagnosis, pair: dict[str, Any]) -> str:
    """"my_ops.py:MyLinear: the gradient for weight (output y), FAILED: transposed"."""
    name = pair.get("input")
    output = f" (output {pair['output']})" if pair.get("output") else ""
    codes = [f.code for f in d.errors if f.input == name] or [f.code for f in d.errors]
    state = "ok" if d.ok else "FAILED" + (f": {', '.join(dict.fromkeys(codes))}" if codes else "")
    return f"{d.target}: the gradient for {name}{output}, {state} (truth: {d.truth}, {d.dtype})"


def check_figure(d: results.Diagnosis, path: Path) -> Path | None:
    """Draw the worst pair to `path`; None when the diagnosis has nothing to draw."""
    pair = worst(d)
    if pair is None:
        return None
    product = pair.get("product", "vjp")
    what = PRODUCTS.get(product, PRODUCTS["vjp"])
    axes = ("output element", "input element") if product == "jacobian" else None
    return heatmaps(pair["truth"], pair["custom"], wrong_mask(pair), path, title=title(d, pair),
                    labels=("truth", "custom"), subtitle=what, axes=axes)
