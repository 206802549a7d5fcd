"""Loading the gallery (tests/gallery/*.py) by path, and calling its entries as the doctor would.

An Entry is one name of a file's EXPECTED: the Function (or plain callable), the make_inputs and
reference it is checked with, and what `backprop check` must say about it.
"""

from __future__ import annotations

import importlib.util
import inspect
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

GALLERY = Path(__file__).parent / "gallery"
# the warnings that say a capability is missing; the probes find them from what torch does
CAPABILITY_WARNINGS = {"no-setup-context", "no-jvp", "no-vmap-rule", "no-batched-grad", "not-twice-differentiable"}


@cache
def module(path: Path):
    spec = importlib.util.spec_from_file_location(f"gallery_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@dataclass(frozen=True)
class Entry:
    path: Path
    name: str

    @property
    def mod(self):
        return module(self.path)

    @property
    def spec(self) -> dict:
        return self.mod.EXPECTED[self.name]

    @property
    def target(self) -> Any:
        return getattr(self.mod, self.name)

    @property
    def is_function(self) -> bool:
        return isinstance(self.target, type) and issubclass(self.target, torch.autograd.Function)

    @property
    def old_style(self) -> bool:
        return self.is_function and self.target.setup_context is torch.autograd.Function.setup_context

    @property
    def inputs_name(self) -> str:
        return self.spec.get("make_inputs", "make_inputs")

    @property
    def reference(self):
        return getattr(self.mod, self.spec.get("reference", "reference"))

    def inputs(self, small: bool = False) -> tuple:
        kwargs = self.mod.SMALL[self.inputs_name] if small else {}
        return tuple(getattr(self.mod, self.inputs_name)(**kwargs))

    @property
    def codes(self) -> set[str]:
        return set(self.spec["codes"])

    @property
    def errors(self) -> set[str]:
        from backpropcli.doctor.codes import CODES

        return {c for c in self.codes if CODES[c].severity == "error"}

    @property
    def correct(self) -> bool:
        """No finding about the gradient itself: only missing capabilities are expected."""
        return self.codes <= CAPABILITY_WARNINGS

    @property
    def parameters(self) -> list[str]:
        forward = self.target.forward if self.is_function else self.target
        names = list(inspect.signature(forward).parameters)
        return names[1:] if self.old_style else names

    def apply(self, *args):
        return self.target.apply(*args) if self.is_function else self.target(*args)

    def __str__(self) -> str:
        return f"{self.path.name}:{self.name}"


def entries() -> list[Entry]:
    return [Entry(p, name) for p in sorted(GALLERY.glob("*.py")) for name in module(p).EXPECTED]


def seeded(fn, *args, seed: int = 0):
    """fn(*args) with the global generator at `seed` (and restored after): a random forward (dropout)
    draws the same mask each time."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return fn(*args)


def as_tuple(out) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def differentiable(out) -> bool:
    return isinstance(out, torch.Tensor) and out.is_floating_point() and out.requires_grad
