"""The nine examples in examples/ run in quick mode, in this process (one jax start-up for
all), through each script's ``main(argv)``; their figures and metrics must appear and make
sense. Thresholds are ones a run of a few steps meets; the full runs are in README's gallery.
"""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from flowkit.data import DataError, load_dataset

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _fashion_mnist_missing() -> bool:
    try:
        load_dataset("fashion-mnist", "test", download=False)
    except DataError:
        return True
    return False


needs_fashion = pytest.mark.skipif(
    _fashion_mnist_missing(), reason="Fashion-MNIST IDX files not installed (dataset-fashion-mnist)"
)


def run_example(name: str, out: Path) -> dict:
    """Import examples/<name>.py and run ``main(["--quick", "--out", out])``."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))  # the scripts import their shared _common module
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    metrics = module.main(["--quick", "--out", str(out)])
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == metrics and on_disk["quick"] is True and on_disk["wall_seconds"] > 0
    return metrics


def assert_pngs(out: Path, *names: str):
    for name in names:
        path = out / name
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def finite(*values) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in values)


@needs_fashion
def test_realnvp_mnist(tmp_path):
    m = run_example("realnvp_mnist", tmp_path)
    assert_pngs(tmp_path, "samples.png", "training_curve.png")
    assert m["data"] in ("mnist", "fashion-mnist") and m["layers"] == 2
    # a few steps from the identity: far from 8 bits/dim is impossible, so only bounds
    assert finite(m["test_nll_nats"], m["test_bits_per_dim"]) and 1.0 < m["test_bits_per_dim"] < 12
    assert m["test_examples"] == 128 and m["samples_finite"]


@needs_fashion
def test_realnvp_multiscale(tmp_path):
    m = run_example("realnvp_multiscale", tmp_path)
    assert_pngs(tmp_path, "samples.png", "training_curve.png")
    assert finite(m["test_bits_per_dim"]) and 1.0 < m["test_bits_per_dim"] < 12
    assert m["samples_finite"]


@needs_fashion
def test_glow(tmp_path):
    m = run_example("glow", tmp_path)
    assert_pngs(tmp_path, "temperatures.png", "training_curve.png")
    assert finite(m["test_bits_per_dim"], m["test_bits_per_dim_before"])
    assert 1.0 < m["test_bits_per_dim"] < 12 and m["samples_finite"]


def test_batchnorm_realnvp(tmp_path):
    m = run_example("batchnorm_realnvp", tmp_path)
    assert_pngs(tmp_path, "samples.png", "training_curve.png")
    # running statistics after 5 steps: finite, within a few bits of log2(17) = 4.09
    assert finite(m["test_bits_per_dim"]) and 0.5 < m["test_bits_per_dim"] < 10
    assert m["samples_finite"]


def test_toy_2d(tmp_path):
    m = run_example("toy_2d", tmp_path)
    assert_pngs(tmp_path, "densities.png")
    assert sorted(m["models"]) == sorted(f"{f}/moons/normal" for f in ("realnvp",))
    for result in m["models"].values():
        assert finite(result["test_nll"]) and 0.0 < result["test_nll"] < 10.0


def test_iaf_vi(tmp_path):
    m = run_example("iaf_vi", tmp_path)
    assert_pngs(tmp_path, "densities.png", "elbo.png")
    assert finite(m["final_elbo"], m["log_z"], m["first_elbo"])
    # the ELBO bounds log Z from below (Monte Carlo noise of 4096 draws is far smaller)
    assert m["final_elbo"] < m["log_z"] + 0.05 and m["kl_q_p"] > -0.05


def test_conditional(tmp_path):
    m = run_example("conditional", tmp_path)
    assert_pngs(tmp_path, "samples_by_class.png", "training_curve.png")
    assert finite(m["test_bits_per_dim"], m["bayes_accuracy"]) and 0.0 <= m["bayes_accuracy"] <= 1
    assert m["samples_finite"]


def test_anomaly(tmp_path):
    m = run_example("anomaly", tmp_path)
    assert_pngs(tmp_path, "scores.png")
    assert sorted(m["roc_auc"]) == ["inverted", "noise 20%"]
    assert all(finite(v) and 0.0 <= v <= 1.0 for v in m["roc_auc"].values())
    assert all(finite(v) for v in m["mean_bits_per_dim"].values())


def test_multi_device(tmp_path):
    m = run_example("multi_device", tmp_path)
    assert_pngs(tmp_path, "losses.png")
    assert m["devices"] == 8  # tests/conftest.py: 8 fake CPU devices
    losses = m["losses"]
    assert all(len(v) == m["steps"] and all(map(math.isfinite, v)) for v in losses.values())
    # same model, batches and keys: equal up to the order of float32 reductions
    assert max(m["max_abs_loss_difference"].values()) < 1e-4
    assert max(m["max_abs_loss_difference_first_10_steps"].values()) < 1e-4
