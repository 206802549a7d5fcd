"""`backprop manual`: a hand-written backward pass, judged step by step.

The user's file defines ``inputs()`` (the leaves by name; requires_grad=True marks what to
differentiate), ``forward(p)`` (the intermediates by name in the order computed, the scalar
loss last) and ``backward(p, cache, grads)``, which writes ``grads[name]`` for intermediates
and leaves and reads upstream gradients back from it.

The truth is autograd over the same forward, with retain_grad on every intermediate. The
student's backward then runs twice (doctor/grads.py): end to end, on its own upstream
gradients, and locally, where every upstream read returns the true gradient, so that each
step is judged on its own. A step right locally but wrong end to end inherits the error of the
locally wrong step it read from; the first locally wrong step is the root cause. A wrong step
is classified as `check` classifies a custom backward (doctor/classify.py), by hand: nobody
sums an unsummed broadcast gradient for a student, so that is an error here, not a warning.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from backpropcli.doctor import sandbox
from backpropcli.doctor.codes import phrase
from backpropcli.doctor.grads import BadGradient, Grads, NotWritten
from backpropcli.doctor.results import Finding
from backpropcli.errors import InputError

STATUSES = ("exact", "close", "wrong", "missing", "not-an-intermediate")
# "exact": within a few units in the last place of the gradient's size (its largest element);
# "close": every element within CLOSE_ULPS units of roundoff of its own size plus the gradient's
# size, room for a hand-written formula that adds the same terms in another order (a batch-norm
# backward cancels terms n times its result). A wrong formula is off by far more than that.
EXACT_ULPS = 8
CLOSE_ULPS = 4096


@dataclass
class Step:
    """One gradient the backward wrote (or should have), as judged."""

    name: str
    shape: tuple[int, ...] | None  # the true gradient's shape (None: not an intermediate)
    status: str  # one of STATUSES, of the end-to-end gradient (what the student's own run gives)
    local_ok: bool  # is the step right on true upstream gradients (judged alone)?
    max_abs_error: float | None = None  # end to end; None where the shapes differ or nothing was written
    local_error: float | None = None  # the same, judged alone
    inherits_from: str | None = None  # right alone but wrong end to end: the root step it inherits from
    findings: list[Finding] = field(default_factory=list)
    leaf: bool = False  # an input (a parameter), not an intermediate
    reads: list[str] = field(default_factory=list)  # the upstream gradients the step read
    written_shape: tuple[int, ...] | None = None
    truth: torch.Tensor | None = field(default=None, repr=False)
    student: torch.Tensor | None = field(default=None, repr=False)  # end to end
    local: torch.Tensor | None = field(default=None, repr=False)
    wrong_elements: torch.Tensor | None = field(default=None, repr=False)  # alone, of the truth's shape


@dataclass
class ManualResult:
    file: str
    ok: bool
    first_wrong: str | None  # the root cause: the first locally wrong step
    steps: list[Step]
    loss: str  # the loss's name (forward's last)
    loss_value: float
    dtype: str
    end_to_end_failure: str | None = None  # backward raised end to end (on its own wrong gradients), not alone
    seconds: float = 0.0
    parents: dict[str, list[str]] = field(default_factory=dict)  # each intermediate's named inputs in forward
    values: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)  # forward's, detached
    ops: dict[str, str] = field(default_factory=dict)  # each tensor with a gradient: the op that made it
    edges: list = field(default_factory=list)  # manual_trace.Edge, recorded only when asked (graph=True)
    expressions: dict[str, str] = field(default_factory=dict)  # "add(mm(·, W1), b1)": down to named tensors

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @property
    def missing_leaves(self) -> list[str]:
        return [s.name for s in self.steps if s.status == "missing" and s.leaf]


# ---- loading -----------------------------------------------------------------------------------

NEEDED = ("inputs", "forward", "backward")


def load(path: str | Path) -> tuple[Callable[..., Any], ...]:
    """The file's inputs, forward and backward (importing runs its code); InputError when one is missing."""
    from backpropcli.doctor import loader

    module = loader._import_file(Path(path).expanduser())
    found = [getattr(module, name, None) for name in NEEDED]
    missing = [name for name, fn in zip(NEEDED, found) if not callable(fn)]
    if missing:
        raise InputError(f"{path} defines no {' and no '.join(f'{m}()' for m in missing)}: a manual file defines "
                         "inputs(), forward(p) and backward(p, cache, grads)")
    return tuple(found)  # type: ignore[arg-type]  # each one checked callable above


def _user(what: str, fn: Callable, *args) -> Any:
    """Call the user's code; an exception it raises is one line naming its own file and line."""
    with sandbox.ctrl_c() as pressed:
        try:
            return fn(*args)
        except NotWritten as e:
            raise InputError(f"{what} read grads[{e.name!r}] before any step wrote it{sandbox.raised_at(e)}"
                             ) from None
        except BadGradient as e:
            raise InputError(f"{what}: {e}{sandbox.raised_at(e)}") from None
        except Exception as e:
            raise InputError(f"{what} raised {_one_line(e)}{sandbox.raised_at(e)}") from e
        except KeyboardInterrupt as e:
            if pressed:
                raise
            raise InputError(f"{what} raised KeyboardInterrupt{sandbox.raised_at(e)}") from None


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ("," if t.dim() == 1 else "") + ")"


# ---- the truth ---------------------------------------------------------------------------------


def _leaves(given: Any) -> dict[str, Any]:
    if not isinstance(given, Mapping) or not given or not all(isinstance(k, str) for k in given):
        raise InputError(f"inputs() must return a dict of tensors by name, got {type(given).__name__}"
                         + (" (empty)" if isinstance(given, Mapping) and not given else ""))
    leaves = {k: v.detach().clone().requires_grad_(v.requires_grad) if isinstance(v, torch.Tensor) else v
              for k, v in given.items()}
    if not any(isinstance(v, torch.Tensor) and v.requires_grad for v in leaves.values()):
        raise InputError("inputs() marks no tensor with requires_grad=True: nothing to differentiate")
    return leaves


def _loss_of(cache: Any, leaves: dict[str, Any]) -> str:
    if not isinstance(cache, Mapping) or not cache or not all(isinstance(k, str) for k in cache):
        raise InputError(f"forward(p) must return a dict of the intermediates by name, the loss last; got "
                         f"{type(cache).__name__}" + (" (empty)" if isinstance(cache, Mapping) and not cache else ""))
    for name, value in cache.items():
        if name in leaves and value is not leaves[name]:
            raise InputError(f"forward returns {name!r}, which is also the name of an input: name it differently")
    loss = list(cache)[-1]
    value = cache[loss]
    if not isinstance(value, torch.Tensor) or value.numel() != 1 or not value.is_floating_point():
        got = f"a tensor of shape {_shape(value)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise InputError(f"forward's last value {loss!r} must be the scalar loss, got {got}")
    if not value.requires_grad:
        raise InputError(f"the loss {loss!r} does not depend on any input with requires_grad=True")
    return loss


def _named_parents(tensors: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Each intermediate's nearest named ancestors in the autograd graph: what it is computed from."""
    owner: dict[int, str] = {}
    for name, t in tensors.items():
        key = id(t.grad_fn) if t.grad_fn is not None else id(t)
        owner.setdefault(key, name)
    parents: dict[str, list[str]] = {}
    for name, t in tensors.items():
        if t.grad_fn is None or owner.get(id(t.grad_fn)) != name:
            continue
        found: list[str] = []
        stack, seen = [fn for fn, _ in t.grad_fn.next_functions if fn is not None], set()
        while stack:
            fn = stack.pop()
            if id(fn) in seen:
                continue
            seen.add(id(fn))
            variable = getattr(fn, "variable", None)
            hit = owner.get(id(variable)) if variable is not None else owner.get(id(fn))
            if hit is not None:
                if hit not in found:
                    found.append(hit)
                continue
            stack.extend(f for f, _ in fn.next_functions if f is not None)
        parents[name] = found
    return parents


def truth_of(forward: Callable, given: Any, graph: bool = False) -> tuple[dict[str, Any], dict[str, Any], str, dict,
                                                                          dict, dict, list]:
    """(leaves, forward's values, the loss's name, the true gradients by name, the named parents,
    each tensor's op, and with ``graph`` every edge's numbers for the explorer)."""
    from backpropcli.doctor import manual_trace
    leaves = _leaves(given)
    cache = _user("forward", forward, leaves)
    loss = _loss_of(cache, leaves)
    tensors = {**{k: v for k, v in leaves.items() if isinstance(v, torch.Tensor) and v.requires_grad},
               **{k: v for k, v in cache.items() if isinstance(v, torch.Tensor) and v.requires_grad}}
    for t in tensors.values():
        if not t.is_leaf:
            t.retain_grad()
    parents = _named_parents(tensors)
    _user("autograd over forward", cache[loss].backward, None, graph)
    truth = {k: (t.grad if t.grad is not None else torch.zeros_like(t)).detach().clone()
             for k, t in tensors.items() if k != loss}
    edges = manual_trace.edges_of(tensors, parents, truth, loss) if graph else []
    ops = {k: (manual_trace.op_of(t), manual_trace.expression_of(t, tensors)) for k, t in tensors.items()}
    return leaves, cache, loss, truth, parents, ops, edges


# ---- running the student's backward ------------------------------------------------------------


def _detached(values: Mapping[str, Any]) -> dict[str, Any]:
    """Fresh copies for one run: what the student changes in place stays in that run."""
    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in values.items()}


def _run(backward: Callable, leaves, cache, grads: Grads, alone: bool) -> Grads:
    _user("backward (judged step by step)" if alone else "backward", backward, _detached(leaves), _detached(cache),
          grads)
    return grads


def _both_runs(backward: Callable, leaves, cache, loss, truth) -> tuple[Grads, str | None, Grads]:
    """(end to end, why it failed, alone). End to end may raise on the student's own wrong
    gradients (a wrong shape read downstream) where the run alone does not: then what it wrote
    before it raised is kept, the run alone is the judge, and the failure is reported."""
    seed = torch.ones_like(cache[loss].detach())
    end, failure = Grads(loss, seed), None
    try:
        _run(backward, leaves, cache, end, alone=False)
    except InputError as e:
        failure = str(e)
    try:
        local = _run(backward, leaves, cache, Grads(loss, seed, truth, end.record.accumulations()), alone=True)
    except InputError:
        if failure is not None:  # it raises either way: the user's own error, as their own run shows it
            raise InputError(failure) from None
        raise
    if failure is not None:  # learn the accumulations from the run alone, all of it, and run it again
        local = _run(backward, leaves, cache, Grads(loss, seed, truth, local.record.accumulations()), alone=True)
    return end, failure, local


# ---- judging -----------------------------------------------------------------------------------


def _roundoff(t: torch.Tensor) -> float:
    return torch.finfo(t.dtype).eps / 2


def size(truth: torch.Tensor, upstream: float = 0.0) -> float:
    """The gradient's size: its largest finite element, or the largest upstream gradient it was
    computed from when that is larger. A gradient that is 0 up to roundoff (∂loss/∂max of a
    softmax's shift) is the difference of terms as large as its upstream's, not of 1e-18s."""
    finite = truth[torch.isfinite(truth)]
    return max(float(finite.abs().max()) if finite.numel() else 0.0, upstream)


def tolerance(truth: torch.Tensor, upstream: float = 0.0) -> torch.Tensor:
    """The per-element error allowed for "close": CLOSE_ULPS roundoffs of the element's own size
    plus the gradient's size (an element near 0 is the difference of terms of that size)."""
    return CLOSE_ULPS * _roundoff(truth) * (truth.abs().nan_to_num(0.0, 0.0, 0.0) + size(truth, upstream))


def verdict(custom: torch.Tensor | None, truth: torch.Tensor, upstream: float = 0.0) -> tuple[str, float | None]:
    """(status, max abs error) of one gradient against the truth, over the elements whose truth is
    finite; ``upstream``: the size of the upstream gradients it was computed from."""
    if custom is None:
        return "missing", None
    if tuple(custom.shape) != tuple(truth.shape):
        return "wrong", None
    known = torch.isfinite(truth)
    if not known.any():
        return "exact", 0.0
    diff = (custom.to(truth.dtype) - truth).abs()[known]
    err = float(diff.max()) if not diff.isnan().any() else math.nan
    if err <= EXACT_ULPS * _roundoff(truth) * size(truth, upstream):
        return "exact", err
    if not math.isnan(err) and bool((diff <= tolerance(truth, upstream)[known]).all()):
        return "close", err
    return "wrong", err


def by_hand(name: str, findings: list[Finding]) -> list[Finding]:
    """Findings as they apply to a backward written by hand: nobody sums an unsummed broadcast
    gradient for the student (autograd does so only for a Function's returned gradient), so that
    warning is the error missing-broadcast-sum here."""
    out = []
    for f in findings:
        got, want = tuple(f.extra.get("got") or ()), tuple(f.extra.get("want") or ())
        if f.code == "unsummed-broadcast-autograd-sums" and math.prod(got) == math.prod(want):
            # summed already, with its dims of size 1 kept (.sum(0, keepdim=True) for a bias of shape
            # (n,)): nothing left to sum; the right values in the wrong shape
            out.append(Finding("wrong-shape", f.input, f.output,
                               {"got": got, "want": want, "transpose": False, "reshaped": True,
                                "transpose_note": phrase("shape.reshaped")}))
            continue
        if f.code == "unsummed-broadcast-autograd-sums":
            extra = dict(f.extra)
            if not extra.get("hint"):
                dims, got, want = list(extra.get("dims") or []), extra.get("got") or (), extra.get("want") or ()
                keep = ", keepdim=True" if len(got) == len(want) else ""
                extra["hint"] = f"grads[{name!r}] = ….sum({', '.join(map(str, dims))}{keep})"
            f = Finding("missing-broadcast-sum", f.input, f.output, extra)
        out.append(f)
    return out


def _findings(step: Step, truth: dict, values: dict, locals_: dict, leaves: Mapping[str, Any],
              replaced: dict | None = None) -> list[Finding]:
    """How a locally wrong step is wrong: the tensor check's classification of its gradient."""
    from backpropcli.doctor.classify import classify

    assert step.truth is not None
    t = step.truth
    known = torch.isfinite(t)
    # swapped gradients are two parameters' (W1's written as W2's): an intermediate's gradient equal
    # to its consumer's (h's to relu(h)'s) is a forgotten local derivative, named by its pattern instead
    others = {n: (locals_.get(n), truth[n]) for n in truth if step.leaf and n in leaves
              and n != step.name and tuple(truth[n].shape) == tuple(t.shape)}
    # what a pattern may be named after: the inputs (a factor of 32 is the batch size of x), and the
    # intermediates of the step's own shape (a wrong set that is exactly where h ≤ 0)
    named = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in values.items()
             if k in leaves or (isinstance(v, torch.Tensor) and tuple(v.shape) == tuple(t.shape))}
    found = classify(step.name, step.local, t, tolerance(t, _upstream(step.reads, truth)), inputs=named,
                     cotangents=tuple(truth[n] for n in step.reads if n in truth),
                     outputs=tuple(values[n].detach() for n in step.reads if n in values),
                     others=others, known=None if bool(known.all()) else known)
    found = by_hand(step.name, found)
    parts = replaced.get(step.name) if replaced else None
    if parts and step.local is not None and all(tuple(x.shape) == tuple(t.shape) for x in parts):
        whole = sum((x.to(t.dtype) for x in parts), step.local.to(t.dtype))
        if verdict(whole, t, _upstream(step.reads, truth))[0] in ("exact", "close"):  # the parts sum to the truth
            return [Finding("replaced-not-added", step.name, extra={"count": len(parts) + 1})]
    if not any(f.severity == "error" for f in found):  # wrong by the verdict's rule: never left unnamed
        found.append(Finding("wrong-gradient", step.name,
                             extra={"max_abs_error": step.local_error, "worst_index": None}))
    return found


def _wrong_elements(step: Step, truth: dict) -> torch.Tensor | None:
    """Where a step's gradient alone is out of tolerance (nan counts); None for another shape."""
    t, mine = step.truth, step.local
    if t is None or mine is None or tuple(mine.shape) != tuple(t.shape):
        return None
    return ~((mine.to(t.dtype) - t).abs() <= tolerance(t, _upstream(step.reads, truth))) & torch.isfinite(t)


def _upstream(reads: list[str], truth: dict) -> float:
    """The size of the upstream gradients a step read (1, the seed ∂loss/∂loss, when it read none)."""
    sizes = [size(truth[n]) for n in reads if n in truth]
    return max(sizes) if sizes else 1.0


def _root(step: Step, steps: dict[str, Step], order: list[str]) -> str | None:
    """The locally wrong step a step locally right but wrong end to end inherits from: through the
    gradients it read, else the last locally wrong step written before it."""
    seen: set[str] = set()

    def walk(name: str) -> str | None:
        if name in seen or name not in steps:
            return None
        seen.add(name)
        s = steps[name]
        if not s.local_ok:
            return name
        if s.status != "wrong":
            return None
        return next((r for r in (walk(n) for n in s.reads) if r is not None), None)

    for name in step.reads:
        root = walk(name)
        if root is not None:
            return root
    before = order[:order.index(step.name)]
    return next((n for n in reversed(before) if not steps[n].local_ok), None)


def _changed_in_place(step: Step | None, by: str | None) -> None:
    """A step right alone whose gradient the student's own run changed in place after writing it
    (g = grads["a"]; g[m] = 0): wrong at the end through no upstream error, so a root cause itself."""
    if step is None or step.truth is None or not step.local_ok or step.status != "wrong":
        return
    when = f"by the step that writes grads[{by!r}]" if by is not None else "after backward's last write"
    step.local_ok = False
    step.findings = [Finding("changed-in-place", step.name, extra={"by": by, "when": when})]


def _refuse_impossible_shapes(written: list[str], locals_: dict, truth: dict, values: dict) -> None:
    """InputError (exit 2) for a gradient no mistake of backprop could shape: not the input's size
    (a transpose, a reshape), not broadcast with it (a sum missing or over the wrong dim), and built
    from no dims of any tensor of forward (another tensor's gradient, summed or not)."""
    known = [Counter(d for d in v.shape if d != 1) for v in values.values() if isinstance(v, torch.Tensor)]
    for name in written:
        mine, t = locals_.get(name), truth.get(name)
        if not isinstance(mine, torch.Tensor) or t is None or mine.numel() == t.numel():
            continue
        try:
            torch.broadcast_shapes(tuple(mine.shape), tuple(t.shape))
            continue
        except RuntimeError:
            pass
        dims = Counter(d for d in mine.shape if d != 1)
        if any(not dims - k for k in known) or any(mine.numel() == v.numel() for v in values.values()
                                                     if isinstance(v, torch.Tensor)):
            continue
        raise InputError(f"backward writes grads[{name!r}] of shape {_shape(mine)}, which no gradient of "
                         f"{name} {_shape(t)} can have: it matches neither {name}'s size nor the dims of any "
                         "tensor of forward")


def judge(written: list[str], ends: dict, locals_: dict, reads: dict, truth: dict, values: dict,
          leaves: Mapping[str, Any], stopped: bool = False, changed: dict | None = None,
          replaced: dict | None = None) -> list[Step]:
    """One Step per gradient written (in the order written), then the missing ones. ``stopped``:
    the end-to-end run raised part way (on the student's own wrong gradients); ``changed``: the
    gradients its own run changed in place after writing them, each by the step that did;
    ``replaced``: per name written again without being read back, its earlier values (alone)."""
    _refuse_impossible_shapes(written, locals_, truth, values)
    steps: dict[str, Step] = {}
    for name in written:
        mine = locals_.get(name)
        if name not in truth:
            steps[name] = Step(name, None, "not-an-intermediate", True, leaf=name in leaves, reads=reads.get(name, []),
                               written_shape=None if mine is None else tuple(mine.shape), local=mine)
            continue
        t, up = truth[name], _upstream(reads.get(name, []), truth)
        local_status, local_err = verdict(mine, t, up)
        end = ends.get(name)
        status, err = verdict(end, t, up) if end is not None else (local_status, local_err)
        if end is None and stopped:  # the end-to-end run raised before this step: it never got a value
            status, err = "wrong", None
        steps[name] = Step(name, tuple(t.shape), status, local_status in ("exact", "close"), err, local_err,
                           leaf=name in leaves, reads=reads.get(name, []),
                           written_shape=None if mine is None else tuple(mine.shape), truth=t, student=end,
                           local=mine)
    for step in steps.values():
        if step.truth is not None and not step.local_ok:
            step.findings = _findings(step, truth, values, locals_, leaves, replaced)
            step.wrong_elements = _wrong_elements(step, truth)
    for name, by in (changed or {}).items():
        _changed_in_place(steps.get(name), by)
    for step in steps.values():
        if step.local_ok and step.status == "wrong":
            step.inherits_from = _root(step, steps, written)
    missing = [n for n in reversed(list(truth)) if n not in steps and n not in leaves]
    missing += [n for n in leaves if n in truth and n not in steps]
    out = list(steps.values())
    out += [Step(n, tuple(truth[n].shape), "missing", n not in leaves, leaf=n in leaves, truth=truth[n])
            for n in missing]
    return out


def check_manual(forward: Callable, backward: Callable, inputs: Any, *, file: str = "",
                 graph: bool = False) -> ManualResult:
    """Judge a hand-written backward step by step. ``inputs``: the leaves by name (a dict) or a
    function returning them; ``graph``: also record every edge's numbers (for the explorer page).
    The user's code is called as it is: guard it (sandbox.guarded)."""
    start = time.perf_counter()
    given = _user("inputs", inputs) if callable(inputs) else inputs
    leaves, cache, loss, truth, parents, made, edges = truth_of(forward, given, graph)
    ops, expressions = {k: op for k, (op, _) in made.items()}, {k: e for k, (_, e) in made.items()}
    end, failure, local = _both_runs(backward, leaves, cache, loss, truth)
    record = end.record if failure is None else local.record
    if loss in local.record.written():  # grads["loss"] = 1.0 to start from: judged against ∂loss/∂loss = 1
        truth = {**truth, loss: torch.ones_like(cache[loss].detach())}
    steps = judge(local.record.written(), end.values_written(), local.values_written(), record.reads_of(), truth,
                  {**leaves, **cache}, leaves, failure is not None, end.changed, local.replaced)
    wrong = [s.name for s in steps if not s.local_ok and s.status != "missing"]
    ok = not wrong and not any(s.status == "missing" and s.leaf for s in steps)
    values = {k: v.detach() for k, v in {**leaves, **cache}.items() if isinstance(v, torch.Tensor)}
    return ManualResult(file, ok, wrong[0] if wrong else None, steps, loss, float(cache[loss].detach()),
                        str(cache[loss].dtype).removeprefix("torch."), failure, time.perf_counter() - start,
                        parents, values, ops, edges, expressions)
