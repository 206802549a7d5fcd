"""Config loading: defaults < file < flags, strict types, clear errors."""

import pytest

from backpropcli.config.models import RegressConfig, function_model, load
from backpropcli.config.points import parse_points
from backpropcli.config.yaml12 import read_yaml
from backpropcli.errors import ConfigError, InputError


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_are_the_reports():
    cfg = RegressConfig()
    assert (cfg.x, cfg.y) == ([1, 2, 3, 4], [0, -1, -2, -3])
    assert (cfg.w0, cfg.b0, cfg.lr, cfg.iters, cfg.dtype) == (0.3, -0.3, 0.01, 100, "float32")


def test_precedence_defaults_file_flags(tmp_path):
    path = write(tmp_path, "lr: 0.05\niters: 7\n")
    cfg = load(RegressConfig, path, {"iters": 3, "lr": None})
    assert cfg.lr == 0.05  # file over default
    assert cfg.iters == 3  # flag over file
    assert cfg.w0 == 0.3  # default where neither speaks


def test_shipped_configs_load():
    assert load(RegressConfig, "configs/regress.yaml") == RegressConfig()
    assert load(RegressConfig, "configs/regress-converged.yaml").lr == 0.1


@pytest.mark.parametrize("text,message", [
    ("lr: [1\n", "invalid YAML (line 2"),
    ("lr: 0.1\nspeed: 3\n", "key 'speed': unknown key"),
    ("lr: fast\n", "key 'lr': expected a number, got 'fast'"),
    ("lr: '0.1'\n", "key 'lr': expected a number, got '0.1'"),
    ("iters: 2.5\n", "key 'iters': expected a whole number"),
    ("x: [1, 2, oops]\n", "key 'x.2': expected a number"),
    ("lr: -1\n", "key 'lr': input should be greater than 0"),
    ("lr: .nan\n", "key 'lr': expected a finite number"),
    ("dtype: float16\n", "key 'dtype': input should be 'float32' or 'float64'"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("lr: 1\nlr: 2\n", "duplicate key 'lr'"),
    ("a: &x [1]\nb: *x\n", "aliases"),
])
def test_bad_files_name_file_key_and_expectation(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(RegressConfig, path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_python_tags_are_rejected_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path, f"lr: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        read_yaml(path)
    assert not marker.exists()


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(RegressConfig, tmp_path / "none.yaml")
    assert load(RegressConfig, write(tmp_path, "")) == RegressConfig()


def test_bad_flag_values_name_the_option():
    with pytest.raises(InputError, match="option --lr: expected a finite number"):
        load(RegressConfig, None, {"lr": float("inf")})


def test_data_path_is_relative_to_the_config(tmp_path):
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", "data: points.csv\n")
    assert load(RegressConfig, path).data == str(tmp_path / "sub" / "points.csv")


@pytest.mark.parametrize("spec,points", [
    (2, [2.0]),
    ("2", [2.0]),
    ([1, 2.5], [1.0, 2.5]),
    ("1,2,3", [1.0, 2.0, 3.0]),
    ("-5:5:11", [float(v) for v in range(-5, 6)]),
    ("0:1:1", [0.0]),
])
def test_points(spec, points):
    assert parse_points(spec) == points


@pytest.mark.parametrize("spec", ["", "1,,2", "a", "1:2", "1:2:0", "1:2:x", "nan", "1,inf", [], [True], "0:1:2:3"])
def test_bad_points(spec):
    with pytest.raises(ValueError):
        parse_points(spec)


def model(name: str):
    from backpropcli import functions

    return function_model(functions.get(name))


def test_function_configs_come_from_the_registry():
    SincConfig, QuadConfig = model("sinc"), model("quad")
    assert SincConfig().x == [2.0]
    q = QuadConfig()
    assert (q.a, q.b, q.c, q.x, q.y) == (1.0, 2.0, 3.0, [1.0], [1.0])
    with pytest.raises(InputError, match="option --y"):
        load(SincConfig, None, {"y": "1"})


def test_exponent_floats_without_a_dot_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads `1e-3` as a string; a config must not
    cfg = load(RegressConfig, write(tmp_path, "lr: 1e-2\ntol: 5E-4\nw0: -2e0\n"))
    assert (cfg.lr, cfg.tol, cfg.w0) == (0.01, 0.0005, -2.0)


def test_values_must_fit_float32_when_it_is_the_dtype(tmp_path):
    with pytest.raises(ConfigError, match="w0 = 1e\\+300 does not fit in float32"):
        load(RegressConfig, write(tmp_path, "w0: 1e300\n"))
    assert load(RegressConfig, write(tmp_path, "w0: 1e300\ndtype: float64\n")).w0 == 1e300
    with pytest.raises(InputError, match="c = 1e\\+40 does not fit"):
        load(model("quad"), None, {"c": 1e40, "dtype": "float32"})
