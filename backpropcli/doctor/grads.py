"""The `grads` dict a student's backward writes into, recording every read and write.

`backprop manual` runs the student's backward twice with one of these:

* end to end: ``grads[name]`` returns what the student wrote there, so an error flows into
  every step that reads it, exactly as in their own run;
* locally: ``grads[name]`` returns the TRUE gradient of ``name`` (the student's own step is
  then judged alone, on correct upstream gradients), except where the read is the first half
  of an accumulation (``grads["h"] += ...`` reads h and writes h back): there it returns the
  student's own partial sum, or the accumulation would start over from the truth.

Which reads are accumulations is learnt from the order of events of an earlier run: a read of a
name already written whose next write is to the same name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import torch


class NotWritten(KeyError):
    """backward read grads[name] before any step wrote it (and name is not the loss)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class BadGradient(Exception):
    """backward wrote something that is not a gradient (not a tensor or a number)."""


@dataclass
class Event:
    kind: str  # "read" or "write"
    name: str


@dataclass
class Record:
    """What one run of backward did, in order."""

    events: list[Event] = field(default_factory=list)

    def written(self) -> list[str]:
        """The names written, in the order of their first write."""
        return list(dict.fromkeys(e.name for e in self.events if e.kind == "write"))

    def reads_of(self) -> dict[str, list[str]]:
        """Per name written, the other names read since the write before it: what the step used."""
        out: dict[str, list[str]] = {}
        since: list[str] = []
        for e in self.events:
            if e.kind == "read":
                since.append(e.name)
                continue
            used = out.setdefault(e.name, [])
            used.extend(n for n in dict.fromkeys(since) if n != e.name and n not in used)
            since = []
        return out

    def accumulations(self) -> set[int]:
        """Indices (among the reads) of the reads that start an accumulation: of a name already
        written, whose next write is to that same name."""
        out, written, reads = set(), set(), 0
        for i, e in enumerate(self.events):
            if e.kind == "write":
                written.add(e.name)
                continue
            following = next((f.name for f in self.events[i + 1:] if f.kind == "write"), None)
            if e.name in written and following == e.name:
                out.add(reads)
            reads += 1
        return out


class Grads(MutableMapping):
    """A dict of gradients by name that logs reads and writes (see the module's docstring)."""

    def __init__(self, loss: str, seed: torch.Tensor, truth: Mapping[str, torch.Tensor] | None = None,
                 accumulations: set[int] | None = None):
        self._loss, self._seed = loss, seed
        self._truth = truth  # None: end to end
        self._accumulations = accumulations or set()
        self._values: dict[str, torch.Tensor] = {}
        self._versions: dict[str, int] = {}  # each value's in-place version counter when it was written
        self._reads = 0
        self._last_read: tuple[str, torch.Tensor, int] | None = None  # (name, the stored tensor, its version)
        self.record = Record()
        # a gradient the student changed in place after writing it (g = grads["a"]; g[m] = 0, or
        # grads["b"] = grads["a"] then grads["b"] += ...: a tensor read from a dict is the one stored
        # there), by name: the step being computed when it changed (None: after the last write)
        self.changed: dict[str, str | None] = {}
        # the earlier values of a name written again without reading it back in between (grads["h"] =
        # part1; ...; grads["h"] = part2: the second replaces the first rather than adding to it)
        self.replaced: dict[str, list[torch.Tensor]] = {}

    def __getitem__(self, name: str) -> torch.Tensor:
        self._filled()
        index, self._reads = self._reads, self._reads + 1
        self.record.events.append(Event("read", name))
        if self._truth is not None and name in self._values and name in self._truth \
                and index not in self._accumulations:
            # in the dtype the student wrote it in: a float32 forward whose backward works in float64
            # (c["z"].double()) reads float64 back end to end, and must alone too, or its own matmul
            # of float64 by the truth's float32 raises where the student's run does not
            return self._truth[name].to(self._values[name].dtype, copy=True)
        if name in self._values:
            stored = self._values[name]
            self._last_read = (name, stored, stored._version)
            return stored
        if name == self._loss:  # ∂loss/∂loss = 1 seeds the backward pass
            return self._seed.clone()
        raise NotWritten(name)

    def __setitem__(self, name: str, value: Any) -> None:
        if not isinstance(name, str):
            raise BadGradient(f"grads keys are the names forward returned (strings), got {name!r}")
        self._filled(value)
        old = self._values.get(name)
        if old is not None and not self._read_since_written(name):
            self.replaced.setdefault(name, []).append(old)
        self.record.events.append(Event("write", name))
        self._note_changes(by=name)
        self._values[name] = _tensor(name, value, self._seed)
        if old is not None and old.data_ptr() != self._values[name].data_ptr():
            self.changed.pop(name, None)  # written anew: the value judged is the new one
        self._versions[name] = self._values[name]._version

    def _filled(self, writing: Any = None) -> None:
        """The stored gradient the last read returned, changed in place before the next event:
        ``grads["h"] = zeros; grads["h"][i] = ...`` fills h row by row, a write of h (recorded as
        one, so that the run alone learns that read as its own partial sum, like an accumulation).
        Not when the changed tensor is being written under another name: that is a gradient
        changed in place and handed on (g = grads["a"]; g[m] = 0; grads["b"] = g)."""
        last, self._last_read = self._last_read, None
        if last is None or last[1]._version == last[2]:
            return
        name, tensor, _ = last
        if isinstance(writing, torch.Tensor) and writing.data_ptr() == tensor.data_ptr():
            return
        self.record.events.append(Event("write", name))
        self._note_changes(by=name)  # another name sharing the tensor (grads["h"] = grads["r"]) changed with it
        self._versions[name] = tensor._version

    def _read_since_written(self, name: str) -> bool:
        for e in reversed(self.record.events):
            if e.name == name:
                return e.kind == "read"
        return False

    def _note_changes(self, by: str | None) -> None:
        """Note the values changed in place since they were written, by the step writing ``by``.
        ``by`` itself is being written again (``grads[by] += ...`` adds in place, legitimately)."""
        for other, value in self._values.items():
            if other != by and other not in self.changed and value._version != self._versions[other]:
                self.changed[other] = by

    def __delitem__(self, name: str) -> None:
        del self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def values_written(self) -> dict[str, torch.Tensor]:
        self._filled()
        self._note_changes(by=None)
        return dict(self._values)


def _tensor(name: str, value: Any, like: torch.Tensor) -> torch.Tensor:
    """The written value, detached (a Python number becomes a 0-d tensor of the loss's dtype). Not
    copied: as in a plain dict, a tensor changed in place after it was written is read changed."""
    if isinstance(value, torch.Tensor):
        if value.is_complex() or not value.is_floating_point():
            raise BadGradient(f"grads[{name!r}] must be a floating-point tensor, got one of dtype {value.dtype}")
        return value.detach()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=like.dtype)
    raise BadGradient(f"grads[{name!r}] must be a tensor, got {type(value).__name__}")
