"""One bug, one finding: the findings of the first-derivative comparison and of the probes,
with those that are consequences of another finding dropped.

* The same (code, input, output) is said once (a torch limitation each probe meets).
* wrong-at-points names a minority of elements, or a set a condition describes: wrong at most
  elements with no condition is a wrong gradient (the few right ones are coincidences within
  the tolerance), so it is said as wrong-gradient.
* A finding that explains an input's wrong first derivative replaces the comparison's
  findings for that input: a surrogate gradient (deliberate: a warning), a saved tensor
  overwritten in forward, a backward that draws other numbers at each call (also the reason a
  strided call differs), a backward that ignores grad_output (the generic wrong-gradient says
  nothing more).
* A backward the engine rejects outright (a gradient of the wrong shape, one for a Python
  number) makes every capability built on the engine fail for that reason: no-batched-grad then
  says nothing new.
"""

from __future__ import annotations

from backpropcli.doctor.results import Finding, InputReport

# what the first-derivative comparison (classify) names
FIRST = frozenset({"wrong-shape", "transposed", "missing-broadcast-sum", "scaled-by", "sign-flipped",
                   "returns-zero", "swapped-gradients", "shifted", "wrong-at-points", "wrong-gradient",
                   "nan-where-finite", "grad-output-misused", "unsummed-broadcast-autograd-sums"})
GENERIC = frozenset({"wrong-gradient", "wrong-at-points"})
# explaining code -> the codes on the same input it makes consequences
EXPLAINS = {
    "surrogate-gradient": FIRST,
    "saved-tensor-modified": FIRST | {"ignores-grad-output", "wrong-jvp", "wrong-non-contiguous"},
    "nondeterministic-backward": FIRST | {"wrong-non-contiguous"},
    "ignores-grad-output": GENERIC,
}
# a named pattern of the first derivative says more than "grad_output is misused", which the
# grad-output probe finds for the same input (a sum over the wrong dims of g is one misuse of g)
for _code in FIRST - GENERIC - {"grad-output-misused", "unsummed-broadcast-autograd-sums"}:
    EXPLAINS[_code] = frozenset({"grad-output-misused"})
REJECTED = frozenset({"wrong-shape", "grad-for-non-differentiable-input"})
ENGINE = frozenset({"no-batched-grad"})


def tidy(findings: list[Finding], reports: list[InputReport]) -> list[Finding]:
    """The findings without repeats and consequences; the reports' patterns follow."""
    findings = [_at_points(f) for f in _unique(findings)]
    explained: dict[str | None, set[str]] = {}
    for f in findings:
        explained.setdefault(f.input, set()).update(EXPLAINS.get(f.code, ()))
    surrogates = {f.input for f in findings if f.code == "surrogate-gradient"}
    kept = [f for f in findings if (_conditioned(f) and f.input not in surrogates)
            or (f.code not in explained.get(f.input, set())
                # an explanation about the whole Function explains every input's
                and f.code not in explained.get(None, set()))]
    if any(f.code in REJECTED for f in kept):
        kept = [f for f in kept if f.code not in ENGINE]
    whole = {f.code for f in kept if f.input is None}  # about the Function (backward raised): every input's
    for r in reports:
        if r.pattern in whole:
            continue
        mine = [f for f in kept if f.input == r.name]
        if r.pattern is not None and not any(f.code == r.pattern for f in mine):
            r.pattern = next((f.code for f in mine), None)
            if not any(f.severity == "error" for f in mine) and r.ok is False:
                r.ok = True
    return kept


def _conditioned(f: Finding) -> bool:
    """Wrong exactly on a set a condition names (the rows an index repeats) is a finding of its
    own, never a consequence: an assignment grad[index] = g with repeated indices is wrong there
    *and* may differ between calls (which write wins is not defined), and the condition says
    the fix (accumulate with index_add_). A surrogate still explains it: a clipped
    straight-through estimator is non-zero exactly where |x| <= 1, on purpose."""
    return f.code == "wrong-at-points" and f.extra.get("condition") is not None


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple] = set()
    out = []
    for f in findings:
        key = (f.code, f.input, f.output)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _at_points(f: Finding) -> Finding:
    """wrong-at-points at most elements and with no condition is a wrong gradient."""
    extra = f.extra
    if f.code != "wrong-at-points" or extra.get("condition") is not None:
        return f
    count, total = extra.get("count"), extra.get("total")
    if not isinstance(count, int) or not isinstance(total, int) or 2 * count <= total:
        return f
    return Finding("wrong-gradient", f.input, f.output, extra={
        "max_abs_error": extra.get("max_abs_error"), "worst_index": extra.get("worst_index"),
        "count": count, "total": total})
