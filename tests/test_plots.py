"""Figures are written headless as real PNGs of sensible size."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from matplotlib import image as mpimg

from flowkit import plots
from flowkit.plots._curves import smooth


def _read(path):
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    assert float(img[..., :3].std()) > 0.01  # not a blank canvas
    return img


def test_image_grid_and_temperature(tmp_path):
    rng = np.random.default_rng(0)
    _read(
        plots.image_grid(tmp_path / "grid.png", rng.uniform(size=(10, 64)), image_shape=(8, 8, 1))
    )
    grids = {t: rng.normal(scale=t, size=(4, 8, 8, 1)) for t in (0.5, 1.0)}
    _read(plots.temperature_grid(tmp_path / "temp.png", grids, value_range=(-2, 2)))


def test_image_grid_rejects_bad_shape(tmp_path):
    with pytest.raises(ValueError, match=r"expected images \(n, H, W\[, C\]\)"):
        plots.image_grid(tmp_path / "x.png", np.zeros((3, 5)))


def test_training_curve_and_smoothing(tmp_path):
    values = np.r_[np.linspace(5, 1, 50), np.nan]
    _read(
        plots.training_curve(
            tmp_path / "c.png", range(51), values, validation=([10, 40], [4.0, 1.5])
        )
    )
    np.testing.assert_allclose(smooth([2.0, 2.0, 2.0]), [2.0, 2.0, 2.0])  # bias-corrected


def test_density_contours_and_anomaly(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(300, 2))

    def log_prob(p):
        return -0.5 * (p**2).sum(1) - np.log(2 * np.pi)

    _read(plots.density_contours(tmp_path / "d.png", [("normal", log_prob, data)] * 2))
    scores = {"in": rng.normal(size=200), "out": rng.normal(3, size=200)}
    _read(plots.anomaly_histogram(tmp_path / "a.png", scores, threshold=1.5))


@pytest.mark.parametrize("chosen", [None, "svg"])
def test_plots_leave_the_backend_alone(tmp_path, chosen):
    """Importing flowkit.plots and saving a figure keeps the user's backend (auto-selected or
    chosen) and never imports pyplot; run fresh, with MPLBACKEND unset."""
    choose = "" if chosen is None else f"matplotlib.use({chosen!r}); "
    script = (
        f"import json, sys, matplotlib; {choose}before = matplotlib.get_backend(); "
        "from flowkit import plots; "
        f"plots.training_curve({str(tmp_path / 'c.png')!r}, [0, 1, 2, 3], [3.0, 2.0, 1.5, 1.2]); "
        "print(json.dumps([before, matplotlib.get_backend(), "
        "'matplotlib.pyplot' in sys.modules]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    root = pathlib.Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=root, env=env
    )
    assert out.returncode == 0, out.stderr
    before, after, has_pyplot = json.loads(out.stdout.strip().splitlines()[-1])
    assert after == before
    if chosen is not None:
        assert after == chosen and not has_pyplot  # flowkit imported no pyplot of its own
    _read(tmp_path / "c.png")
