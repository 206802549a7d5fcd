"""docs/api-reference.md is what the docstrings say now, and every public name has one."""

import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import api_reference  # noqa: E402  (docs/api_reference.py, the tool that writes the page)


def test_the_api_reference_is_not_stale():
    assert api_reference.PAGE.read_text() == api_reference.page(), \
        "docs/api-reference.md is stale: run `python docs/api_reference.py` (make docs)"


def test_every_public_name_and_member_has_a_docstring():
    import backpropcli
    from backpropcli import api

    for name in backpropcli.__all__:
        if name != "__version__":
            assert getattr(backpropcli, name).__doc__, name
    for name in api_reference.RESULTS:
        cls = getattr(api, name)
        assert cls.__doc__, name
        undocumented = [m for m, v in vars(cls).items() if not m.startswith("_") and callable(getattr(v, "fget", v))
                        and not (getattr(v, "fget", None) or getattr(cls, m)).__doc__]
        assert not undocumented, f"{name}: {undocumented}"


def test_a_signature_reads_as_the_code_writes_it():
    def f(a, b: int = 1, *args, c: "str | None" = None, **kw) -> "dict":
        """Doc."""

    assert api_reference.signature("f", f) == "f(a, b: int = 1, *args, c: str | None = None, **kw) -> dict"

    def g(*, x=2):
        pass

    assert api_reference.signature("g", g) == "g(*, x=2)"
