"""Config files read numbers as YAML 1.2's core schema does, and ranges as the command line does."""

import pytest

from backpropcli.config import models as config
from backpropcli.config.yaml12 import read_yaml
from backpropcli.errors import ConfigError


def _load(tmp_path, text, function=None, **given):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    if function is None:
        return read_yaml(path)
    return config.load_function(function, path, given)


@pytest.mark.parametrize("text, want", [
    ("v: 1:5:9", "1:5:9"),          # YAML 1.1: sexagesimal 3909
    ("v: -10:10:21", "-10:10:21"),  # YAML 1.1: -36621
    ("v: 0100", 100),               # YAML 1.1: octal 64
    ("v: 010", 10),
    ("v: 0o17", 15),
    ("v: 0x1F", 31),
    ("v: 1e-3", 0.001),             # YAML 1.1: a string
    ("v: .5", 0.5),
    ("v: +12", 12),
    ("v: 1_000", "1_000"),          # no underscores in 1.2
    ("v: yes", "yes"),              # no yes/no/on/off booleans in 1.2
    ("v: true", True),
    ("v: ~", None),
    ("v: 2001-12-14", "2001-12-14"),  # no timestamps in the core schema
    ("v: '010'", "010"),
])
def test_core_schema_scalars(tmp_path, text, want):
    assert _load(tmp_path, text)["v"] == want


def test_infinities_and_nan(tmp_path):
    data = _load(tmp_path, "a: -.inf\nb: .NaN\nc: .Inf")
    assert data["a"] == float("-inf") and data["b"] != data["b"] and data["c"] == float("inf")


def test_a_range_in_a_file_is_the_range_on_the_command_line(tmp_path):
    from_file = _load(tmp_path, "x: 1:5:9", "sinc")
    from_cli = config.load_function("sinc", None, {"x": "1:5:9"})
    assert from_file.x == from_cli.x == [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    assert len(_load(tmp_path, "x: -10:10:21", "sinc").x) == 21


def test_leading_zeros_are_decimal_in_a_config(tmp_path):
    assert config.load(config.RegressConfig, _write(tmp_path, "iters: 0100"), {}).iters == 100


def test_a_range_inside_a_list_is_refused_clearly(tmp_path):
    with pytest.raises(ConfigError, match="1:30"):
        _load(tmp_path, "x: [010, 1:30]", "sinc")
    assert _load(tmp_path, "x: [010, 1.5]", "sinc").x == [10.0, 1.5]


def _write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path
