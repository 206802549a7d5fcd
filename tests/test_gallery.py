"""The gallery (tests/gallery/) proved without the doctor: each entry is what EXPECTED says it is.

Correct entries: forward and the custom backward agree with the plain-torch reference (written
differently) through torch.autograd.grad at realistic sizes, and torch.autograd.gradcheck passes at a
small size. Buggy entries: the custom gradient does NOT agree with the reference, and the stated
pattern holds exactly (custom = truthᵀ, = factor × truth, wrong exactly where x < 0, ...). Capability
warnings (no-jvp, no-vmap-rule, ...) are expected exactly when torch itself refuses the capability,
and where it does not refuse, the capability's answer agrees with the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from gallery_loader import CAPABILITY_WARNINGS, Entry, as_tuple, differentiable, entries, seeded

ENTRIES = entries()
CORRECT = [e for e in ENTRIES if e.correct]
BUGGY = [e for e in ENTRIES if not e.correct]
FUNCTIONS = [e for e in ENTRIES if e.is_function]


def close(a, b) -> bool:
    return a is not None and b is not None and a.shape == b.shape and torch.allclose(a, b, rtol=1e-9, atol=1e-12)


@dataclass
class Run:
    """One forward of the entry and of its reference, one random cotangent, and the gradients."""

    entry: Entry
    given: dict  # name → value as make_inputs gave it
    passed: dict  # name → what the custom Function was called with (a non-leaf clone of each leaf)
    leaves: dict  # name → leaf for the differentiable inputs
    outs: tuple
    ref_outs: tuple
    cotangents: tuple  # None for a non-differentiable output
    truth: dict  # name → the reference's vector–Jacobian product (zeros where it is unused)
    raw: dict  # name → exactly what backward returned (Functions only)

    def backward_raw(self, cotangents) -> dict:
        """Call the custom backward itself (not through the engine, which would reject a wrong shape)."""
        node = next(o for o in self.outs if differentiable(o)).grad_fn
        return dict(zip(self.entry.parameters, as_tuple(node.apply(*cotangents))))

    def engine(self) -> dict:
        diff = [k for k, c in enumerate(self.cotangents) if c is not None]
        grads = torch.autograd.grad([self.outs[k] for k in diff], list(self.leaves.values()),
                                    [self.cotangents[k] for k in diff], allow_unused=True, retain_graph=True)
        return {n: torch.zeros_like(v) if g is None else g for (n, v), g in zip(self.leaves.items(), grads)}


def vjp(outs, leaves: dict, cotangents, **kw) -> dict:
    diff = [k for k, c in enumerate(cotangents) if c is not None]
    grads = torch.autograd.grad([outs[k] for k in diff], list(leaves.values()), [cotangents[k] for k in diff],
                                allow_unused=True, **kw)
    return {n: torch.zeros_like(v) if g is None else g for (n, v), g in zip(leaves.items(), grads)}


def run(entry: Entry, small: bool = False, seed: int = 1) -> Run:
    given = dict(zip(entry.parameters, entry.inputs(small)))
    leaves = {n: v.detach().clone().requires_grad_() for n, v in given.items()
              if isinstance(v, torch.Tensor) and v.requires_grad}
    passed = {n: leaves[n].clone() if n in leaves else v for n, v in given.items()}
    outs = as_tuple(seeded(entry.apply, *passed.values()))
    ref_outs = as_tuple(seeded(entry.reference, *[leaves.get(n, v) for n, v in given.items()]))
    gen = torch.Generator().manual_seed(seed)
    cotangents = tuple(torch.randn(o.shape, generator=gen, dtype=o.dtype) if differentiable(o) else None
                       for o in outs)
    truth = vjp(ref_outs, leaves, cotangents, retain_graph=True)
    r = Run(entry, given, passed, leaves, outs, ref_outs, cotangents, truth, {})
    if entry.is_function:
        r.raw = r.backward_raw(cotangents)
    return r


@pytest.fixture(scope="module")
def runs():
    cache: dict = {}

    def get(entry: Entry) -> Run:
        if entry not in cache:
            cache[entry] = run(entry)
        return cache[entry]
    return get


def test_the_gallery_covers_every_bug_class():
    named = set().union(*(e.codes for e in ENTRIES))
    want = {"transposed", "wrong-shape", "missing-broadcast-sum", "unsummed-broadcast-autograd-sums", "scaled-by",
            "sign-flipped", "ignores-grad-output", "swapped-gradients", "wrong-at-points", "shifted",
            "grad-for-non-differentiable-input", "nondeterministic-backward", "saved-tensor-modified",
            "wrong-second-derivative", "surrogate-gradient", "wrong-gradient"}
    assert want <= named
    assert len(CORRECT) >= 15


@pytest.mark.parametrize("entry", ENTRIES, ids=str)
def test_forward_agrees_with_the_reference(entry, runs):
    r = runs(entry)
    assert len(r.outs) == len(r.ref_outs)
    for out, ref in zip(r.outs, r.ref_outs):
        if out.is_floating_point():
            torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
        else:
            assert torch.equal(out, ref)


@pytest.mark.parametrize("entry", CORRECT, ids=str)
def test_correct_gradients_agree_with_the_reference(entry, runs):
    r = runs(entry)
    assert r.leaves, "nothing differentiable"
    for name, grad in r.engine().items():
        torch.testing.assert_close(grad, r.truth[name], rtol=1e-9, atol=1e-12, msg=f"{entry}: {name}")
    for name, g in r.raw.items():
        if name in r.leaves:
            assert g.shape == r.leaves[name].shape, name
        else:
            assert g is None, f"{entry}: a gradient for {name}, which takes none"


@pytest.mark.parametrize("entry", CORRECT, ids=str)
def test_correct_entries_pass_gradcheck_at_a_small_size(entry):
    given = dict(zip(entry.parameters, entry.inputs(small=True)))
    diff = [n for n, v in given.items() if isinstance(v, torch.Tensor) and v.requires_grad]

    def fn(*leaves):
        values = {**given, **{n: leaf.clone() for n, leaf in zip(diff, leaves)}}
        return seeded(entry.apply, *values.values())
    leaves = tuple(given[n].detach().clone().requires_grad_() for n in diff)
    assert torch.autograd.gradcheck(fn, leaves, check_batched_grad=False)


# ---- each bug is real and has its stated pattern ---------------------------------------------------


def _main(entry: Entry) -> str:
    return next(c for c in entry.spec["codes"] if c not in CAPABILITY_WARNINGS)


@pytest.mark.parametrize("entry", BUGGY, ids=str)
def test_each_bug_is_real(entry, runs):
    """The main input's custom gradient disagrees with the reference — except for the three classes
    whose first derivative is right by definition (checked by their patterns instead)."""
    r = runs(entry)
    name = entry.spec["input"]
    if _main(entry) in ("wrong-second-derivative", "unsummed-broadcast-autograd-sums"):
        torch.testing.assert_close(r.engine()[name], r.truth[name])
    elif _main(entry) == "grad-for-non-differentiable-input":
        assert name not in r.leaves and r.raw[name] is not None
    else:
        assert not close(r.raw[name], r.truth[name])


def _wrong_mask(custom, truth):
    return ~torch.isclose(custom, truth, rtol=1e-9, atol=1e-12)


def _condition_mask(r: Run, condition: dict):
    if "op" in condition:
        assert condition["op"] == "<"
        return r.given[condition["input"]] < condition["value"]
    index = r.given[condition["index"]]
    counts = torch.bincount(index, minlength=r.leaves[r.entry.spec["input"]].shape[0])
    return (counts > 1).unsqueeze(-1).expand_as(r.leaves[r.entry.spec["input"]])


def _pattern(r: Run, code: str) -> bool:
    spec = r.entry.spec
    name = spec.get("input")
    c, t = r.raw.get(name), r.truth.get(name)
    if code == "transposed":
        return c.shape == t.shape == t.mT.shape and close(c, t.mT)
    if code == "wrong-shape":
        return c.shape != t.shape and close(c, t.mT)
    if code == "swapped-gradients":
        return close(r.raw["x"], r.truth["weight"]) and close(r.raw["weight"], r.truth["x"])
    if code == "unsummed-broadcast-autograd-sums":
        return c.shape != t.shape and close(c.sum(0), t) and close(r.engine()[name], t)
    if code == "missing-broadcast-sum":
        # summed over the wrong dimensions: the right shape, the wrong values, the same total
        return c.shape == t.shape and bool(c.any()) and not close(c, t) and torch.isclose(c.sum(), t.sum())
    if code == "scaled-by":
        return close(c, spec["factor"] * t)
    if code == "sign-flipped":
        return close(c, -t)
    if code == "ignores-grad-output":
        ones = tuple(None if g is None else torch.ones_like(g) for g in r.cotangents)
        twice = r.backward_raw(tuple(None if g is None else 2 * g for g in r.cotangents))
        ref_ones = vjp(r.ref_outs, r.leaves, ones, retain_graph=True)
        return close(r.backward_raw(ones)[name], ref_ones[name]) and close(twice[name], c)
    if code == "wrong-at-points":
        wrong = _wrong_mask(c, t)
        return bool(wrong.any()) and torch.equal(wrong, _condition_mask(r, spec["condition"]))
    if code == "shifted":
        return close(c, t - r.cotangents[0])
    if code == "grad-for-non-differentiable-input":
        return r.raw[name] is not None and all(close(r.raw[n], r.truth[n]) for n in r.leaves)
    if code == "nondeterministic-backward":
        again = r.backward_raw(r.cotangents)[name]
        return not close(again, c)
    if code == "saved-tensor-modified":
        # forward changed the very tensor it was given (no mark_dirty: the output is a new tensor)
        return not close(r.passed[name], r.given[name]) and r.outs[0] is not r.passed[name]
    if code == "wrong-gradient":
        ratio = (c / t).flatten()
        return not close(c, t) and not torch.allclose(ratio, ratio[0]) and not close(c, t.mT)
    if code == "wrong-second-derivative":
        return _hvp_differs(r, name)
    if code == "surrogate-gradient":
        return close(c, r.cotangents[0]) and not r.truth[name].any()
    raise AssertionError(f"no pattern check for {code}")


def _hvp_differs(r: Run, name: str) -> bool:
    """First derivative right, second wrong: ⟨u, ∇⟨v, J⟩⟩ differs between custom and reference."""
    u = torch.randn_like(r.leaves[name])
    second = []
    for outs in (r.outs, r.ref_outs):
        first = vjp(outs, r.leaves, r.cotangents, create_graph=True, retain_graph=True)[name]
        hvp = None
        if first.requires_grad:
            (hvp,) = torch.autograd.grad((first * u).sum(), r.leaves[name], retain_graph=True, allow_unused=True)
        second.append(torch.zeros_like(u) if hvp is None else hvp)  # x unused: a constant to double backward
    return not close(second[0], second[1])


@pytest.mark.parametrize("entry", BUGGY, ids=str)
def test_each_bug_has_its_stated_pattern(entry, runs):
    assert _pattern(runs(entry), _main(entry)), f"{entry}: not {_main(entry)}"


RAW_PATTERNS = ("transposed", "wrong-shape", "swapped-gradients", "missing-broadcast-sum", "scaled-by",
                "sign-flipped", "wrong-at-points", "shifted", "wrong-gradient", "surrogate-gradient")


@pytest.mark.parametrize("entry", [e for e in BUGGY if _main(e) in RAW_PATTERNS], ids=str)
def test_the_pattern_checks_reject_the_true_gradient(entry):
    """A pattern check that a right gradient also passed would prove nothing."""
    r = run(entry)
    r.raw = {n: r.truth.get(n) for n in r.raw}
    assert not _pattern(r, _main(entry))


# ---- the capability warnings follow from what torch does -------------------------------------------


def _jvp(fn, r: Run, tangents: dict):
    import torch.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        args = [fwAD.make_dual(r.leaves[n].detach().clone(), tangents[n]) if n in r.leaves else v
                for n, v in r.given.items()]
        outs = as_tuple(seeded(fn, *args))
        return [fwAD.unpack_dual(o).tangent for o in outs if o.is_floating_point()]


def _second(fn, r: Run, u: dict) -> dict:
    """⟨u, ∂/∂x ⟨v, J⟩⟩ with a cotangent v that requires grad (once_differentiable only refuses then)."""
    leaves = {n: v.detach().clone().requires_grad_() for n, v in r.leaves.items()}
    outs = as_tuple(seeded(fn, *[leaves[n].clone() if n in leaves else v for n, v in r.given.items()]))
    cot = tuple(None if c is None else c.clone().requires_grad_() for c in r.cotangents)
    first = vjp(outs, leaves, cot, create_graph=True)
    if any(type(f.grad_fn).__name__ == "Error" for f in first.values()):
        # once_differentiable hangs a node that raises when walked; but nothing leads from it back to
        # the inputs, so the engine never walks it and double backward would silently give zeros
        raise RuntimeError("the first derivative was computed by a once_differentiable backward")
    total = sum((f * u[n]).sum() for n, f in first.items() if f.requires_grad)
    if not torch.is_tensor(total):
        return {n: torch.zeros_like(v) for n, v in leaves.items()}
    return vjp((total,), leaves, (torch.ones((), dtype=total.dtype),))


def _vmap(fn, r: Run):
    name = next(iter(r.leaves))
    batch = torch.stack([r.leaves[name].detach(), 0.5 * r.leaves[name].detach()])
    rest = {n: v for n, v in r.given.items() if n != name}

    def one(x):
        return fn(*[x if n == name else rest[n] for n in r.given])
    return batch, one


def _capabilities(entry: Entry, r: Run) -> set[str]:
    """The capability warnings torch's own behaviour implies, each working capability checked against
    the reference's answer."""
    found = {"no-setup-context"} if entry.old_style else set()
    gen = torch.Generator().manual_seed(2)
    tangents = {n: torch.randn(v.shape, generator=gen, dtype=v.dtype) for n, v in r.leaves.items()}
    try:
        custom = _jvp(entry.apply, r, tangents)
    except RuntimeError as e:
        assert "jvp" in str(e), e
        found.add("no-jvp")
    else:
        for got, want in zip(custom, _jvp(entry.reference, r, tangents)):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    if not entry.old_style:
        batch, one = _vmap(entry.apply, r)
        try:
            mapped = as_tuple(torch.func.vmap(one)(batch))
        except RuntimeError as e:
            assert "vmap" in str(e), e
            found.add("no-vmap-rule")
        else:
            _, ref_one = _vmap(entry.reference, r)
            for k, out in enumerate(mapped):
                torch.testing.assert_close(out, torch.stack([as_tuple(ref_one(x))[k] for x in batch]))
    found |= _batched(r)
    try:
        second = _second(entry.apply, r, tangents)
    except RuntimeError as e:
        assert "once_differentiable" in str(e), e
        found.add("not-twice-differentiable")
    else:
        # only meaningful where the first derivative is right (else the second is wrong with it)
        if entry.correct or "wrong-second-derivative" in entry.codes:
            want = _second(entry.reference, r, tangents)
            same = all(close(second[n], want[n]) for n in want)
            assert same == ("wrong-second-derivative" not in entry.codes), f"{entry}: second derivative"
    return found


def _batched(r: Run) -> set[str]:
    """Two cotangents at once (is_grads_batched: vmap over backward), each row against the reference."""
    diff = [k for k, c in enumerate(r.cotangents) if c is not None]
    stacked = [torch.stack([r.cotangents[k], -2 * r.cotangents[k]]) for k in diff]
    try:
        rows = torch.autograd.grad([r.outs[k] for k in diff], list(r.leaves.values()), stacked, retain_graph=True,
                                   is_grads_batched=True, allow_unused=True)
    except RuntimeError as e:
        assert "vmap" in str(e) or "batched" in str(e).lower(), e
        return {"no-batched-grad"}
    if r.entry.correct:
        for (name, _), got in zip(r.leaves.items(), rows):
            torch.testing.assert_close(got[1], -2 * r.truth[name], rtol=1e-9, atol=1e-12)
    return set()


# entries whose backward the engine rejects outright (a wrong shape, a gradient for a Python float):
# no capability built on the engine's backward can run, and none is expected to be reported
REJECTED = ("wrong-shape", "grad-for-non-differentiable-input")


@pytest.mark.parametrize("entry", [e for e in FUNCTIONS if not (e.codes & set(REJECTED)) or
                                   "index" in e.parameters], ids=str)
def test_capability_warnings_are_what_torch_does(entry, runs):
    r = runs(entry)
    if "surrogate-gradient" in entry.codes:
        pytest.skip("a surrogate's derivatives are not its reference's, on purpose")
    assert _capabilities(entry, r) == entry.codes & CAPABILITY_WARNINGS
