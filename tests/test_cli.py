"""The flowkit command line: train -> sample -> eval on a run directory, pmap/shard parity on
8 fake devices, and user errors as one line (kills, resume, full disks and existing runs:
test_run_faults.py)."""

import argparse
import json

import jax
import numpy as np
import pytest

import flowkit as fk
from flowkit.cli import main
from flowkit.cli._errors import UserError
from flowkit.cli._models import build_model, recipe
from flowkit.cli._train import _apply_recipe

# A tiny RealNVP on 10% of the digits: 3 steps of 48 per epoch, validation on the other 90%.
TINY = ["--width", "8", "--layers", "2", "--batch-size", "48", "--val-fraction", "0.9"]
RUN = ["--epochs", "2", "--checkpoint-every", "3"]


def train(out, *extra: str) -> int:
    return main(["train", "--out", str(out), "--quiet", *TINY, *extra])


def params(path) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(fk.load(path))]


def losses(run) -> list[float]:
    return [r["loss"] for r in fk.train.read_metrics(run / "metrics.jsonl")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """An uninterrupted 2-epoch run, checkpointed at every epoch end."""
    out = tmp_path_factory.mktemp("cli") / "run"
    assert train(out, *RUN) == 0
    return out


def test_train_writes_models_metrics_and_figures(run):
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "realnvp" and metrics["metric"] == "bits/dim"
    assert metrics["epochs_run"] == 2 and metrics["steps_run"] == 6
    assert metrics["best_epoch"] == 2 and metrics["val_best"] < metrics["val_initial"]
    assert 0 < metrics["test"]["mean"] < 10 and metrics["test"]["num_examples"] == 297
    for name in ("samples.png", "temperatures.png", "loss.png"):
        assert (run / name).stat().st_size > 1000
    assert [r["step"] for r in fk.train.read_metrics(run / "metrics.jsonl")] == list(range(1, 7))
    history = json.loads((run / "history.json").read_text())
    assert history["val_loss"][-1] == pytest.approx(metrics["val_best"])
    assert fk.model_info(run / "best.flowkit")["metadata"]["data_shape"] == [8, 8, 1]


def test_sample_and_eval_read_the_best_model(run, capsys):
    out = run / "s.png"
    assert main(["sample", str(run), "--num", "16", "--temperature", "0.7", "--out", str(out)]) == 0
    assert out.stat().st_size > 500
    assert main(["eval", str(run), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    metrics = json.loads((run / "metrics.json").read_text())
    assert summary["mean"] == pytest.approx(metrics["test"]["mean"], rel=1e-6)
    assert summary["metric"] == "bits/dim" and len(summary["worst"]) == 10
    assert main(["eval", str(run / "last.flowkit"), "--data", "digits", "--split", "train"]) == 0
    text = capsys.readouterr().out
    assert "bits/dim:" in text and "+/-" in text and "non-finite: 0" in text


def test_two_dimensional_data_get_nll_and_density_figures(tmp_path, capsys):
    out = tmp_path / "moons"
    assert main(["train", "--data", "moons", "--out", str(out), "--quiet", "--epochs", "1",
                 "--steps", "2", "--width", "8", "--layers", "2"]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["metric"] == "nll" and metrics["figures"] == [
        "samples.png",
        "density.png",
        "loss.png",
    ]
    assert (out / "density.png").stat().st_size > 1000
    assert main(["eval", str(out)]) == 0
    assert "nll: " in capsys.readouterr().out


def test_a_file_without_a_test_split_trains_and_eval_scores_a_given_file(tmp_path, capsys):
    # the done-when case of issue 27: a user's own file holding only x
    rng = np.random.default_rng(0)
    data = tmp_path / "only_x.npz"
    np.savez(data, x=(rng.standard_normal((300, 2)) * [2.0, 0.5]).astype(np.float32))
    out = tmp_path / "mine"
    assert main(["train", "--data", str(data), "--out", str(out), "--epochs", "1",
                 "--steps", "2", "--width", "8", "--layers", "2"]) == 0  # fmt: skip
    assert "no test split (score a file with: flowkit eval RUN --data FILE)" in (
        capsys.readouterr().err
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"] is None and "density.png" in metrics["figures"]
    assert main(["eval", str(out)]) == 2
    assert f"flowkit eval {out} --data FILE" in capsys.readouterr().err
    assert main(["eval", str(out), "--data", str(data)]) == 0
    assert "nll: " in capsys.readouterr().out


def test_pmap_and_shard_match_one_device(run, tmp_path):
    # Batches of 48: 6 per device under pmap, 8 shards under jit. float32 sums in another
    # order, so equal to float32 rounding (measured: losses ~1e-7 relative, parameters ~1e-7).
    reference = params(run / "last.flowkit")
    for parallel in ("pmap", "shard"):
        out = tmp_path / parallel
        assert train(out, *RUN, "--parallel", parallel) == 0
        assert losses(out) == pytest.approx(losses(run), rel=1e-5)
        for a, b in zip(params(out / "last.flowkit"), reference, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def error_line(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err
    return lines[0]


def test_user_errors_are_one_line(run, tmp_path, capsys):
    assert error_line(capsys, ["train", "--model", "flowy"]) == (
        "flowkit train: error: unknown model 'flowy'; valid choices: glow, maf, nice, nsf, "
        "realnvp, realnvp-multiscale, tarflow"
    )
    line = error_line(capsys, ["train", "--data", "cifar"])
    assert "cifar: unknown data set; choose one of digits, fashion-mnist, mnist, moons" in line
    assert "no such file" in error_line(capsys, ["train", "--data", str(tmp_path / "x.npz")])
    line = error_line(capsys, ["train", "--model", "glow", "--data", "moons"])
    assert "model 'glow' needs images (H, W, C); the data have events of shape (2,)" in line
    line = error_line(capsys, ["eval", str(run), "--data", "moons"])
    assert "the model takes events of shape (64,) but moons (test) has events of shape" in line
    assert "no such model file or run directory" in error_line(capsys, ["sample", "nowhere"])
    (tmp_path / "bad.flowkit").write_bytes(b"not a model")
    assert "bad.flowkit: " in error_line(capsys, ["eval", str(tmp_path / "bad.flowkit")])
    line = error_line(capsys, ["train", "--memory", "tiny"])
    assert line.endswith("unknown memory 'tiny'; valid choices: invertible, remat, standard")
    line = error_line(capsys, ["train", "--parallel", "pmap", "--devices", "3"])
    assert "--parallel pmap runs on all 8 local devices; got --devices 3" in line
    line = error_line(capsys, ["train", "--parallel", "shard", "--batch-size", "100"])
    assert "--batch-size 100 does not split over 8 devices" in line
    line = error_line(capsys, ["train", "--out", str(run), "--resume", "--seed", "1", *TINY])
    assert "--resume with other settings than the run in" in line and "seed 0 -> 1" in line
    line = error_line(capsys, ["train", "--unroll", "0"])
    assert "argument --unroll: expected auto, full or a positive int; got '0'" in line
    assert "invalid choice: 'middle'" in error_line(
        capsys, ["sample", str(run), "--which", "middle"]
    )


def test_noise_std_and_the_glow_recipe_for_large_images(run, tmp_path):
    noisy = tmp_path / "noisy"
    assert train(noisy, "--steps", "1", "--noise-std", "0.2") == 0
    info = json.loads((noisy / "metrics.json").read_text())
    assert info["noise_std"] == 0.2
    assert abs(losses(noisy)[0] - losses(run)[0]) > 1e-3  # same batch and key, noisier data
    # glow on 28x28 data takes the measured recipe for what is left out; flags still win
    assert recipe("glow", (28, 28, 1)) == {
        "width": 64, "depth": 0, "layers": 8, "batch_size": 64, "lr": 1e-3,
    }  # fmt: skip
    assert recipe("glow", (8, 8, 1))["width"] is None and recipe("realnvp", (784,))["lr"] == 1e-3
    given = argparse.Namespace(
        model="glow", width=4, depth=None, layers=None, batch_size=None, lr=None, devices=8
    )
    _apply_recipe(given, (28, 28, 1), 1000)
    assert (given.width, given.depth, given.layers, given.batch_size) == (4, 0, 8, 64)
    with pytest.raises(UserError, match=r"--batch-size 64 is larger than the 50 training exam"):
        _apply_recipe(given, (28, 28, 1), 50)
    given.batch_size = 100
    with pytest.raises(UserError, match="does not split over 8 devices"):
        _apply_recipe(given, (28, 28, 1), 1000)


def test_tarflow_sizes_follow_the_cli_names():
    """--width, --depth (transformer layers per block) and --layers (blocks) reach fk.tarflow."""
    key = jax.random.key(0)
    built = build_model(key, "tarflow", (8, 8, 1), width=16, depth=1, num_layers=2)
    direct = fk.tarflow(
        key, image_shape=(8, 8, 1), patch_size=2, num_blocks=2, layers_per_block=1, width=16
    )
    default = build_model(key, "tarflow", (8, 8, 1), width=16)
    assert jax.tree.structure(built) == jax.tree.structure(direct)
    assert jax.tree.structure(built) != jax.tree.structure(default)
    for a, b in zip(jax.tree.leaves(built), jax.tree.leaves(direct), strict=True):
        np.testing.assert_array_equal(a, b)
