"""benchmarks/check_tensors.py works, on a tiny layer in well under a minute (timings never asserted):
gradcheck fast_mode's catches over seeds, slow mode's Jacobian estimate, the generated inputs module.
The `backprop check` half of it runs in `make bench` (and is what tests/test_gallery_cli.py covers)."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gradcheck_fast_mode_and_the_slow_mode_estimate_on_a_tiny_layer():
    bench = load(BENCHMARKS / "check_tensors.py")
    fast = bench.gradcheck_fast(4, seeds=2)
    assert fast["caught"] + fast["missed"] == 2 and fast["seconds"] > 0
    slow = bench.slow_mode_estimate(4)
    n_in, n_out = 4 * 4 + 4 * 4 + 4, 4 * 4  # x 4×4, W 4×4, bias 4; out 4×4
    assert slow["jacobian_bytes"] == 2 * n_in * n_out * 8 and slow["forward_calls"] == 2 * n_in
    assert slow["backward_calls"] == n_out and slow["estimated_seconds"] > 0


def test_the_issue_layer_needs_21_gb_of_jacobians_in_slow_mode():
    # two dense float64 Jacobians of (64·256 + 256² + 256) inputs × (64·256) outputs
    assert 2 * (64 * 256 + 256 * 256 + 256) * (64 * 256) * 8 / 1e9 == pytest.approx(21.5, abs=0.05)


def test_the_inputs_module_gives_each_size(tmp_path):
    bench = load(BENCHMARKS / "check_tensors.py")
    (tmp_path / "inputs.py").write_text(bench.inputs_module((32, 128, 256)))
    inputs = load(tmp_path / "inputs.py")
    x, weight, bias = inputs.inputs_256()
    assert (x.shape, weight.shape, bias.shape) == ((64, 256), (256, 256), (256,))
    assert inputs.inputs_128()[0].shape == (32, 128) and inputs.inputs_32()[0].shape == (32, 32)
    assert x.requires_grad and weight.requires_grad and bias.requires_grad
