"""A run directory is a unit, and faults end in one line: an existing run is refused (or
replaced with --overwrite), a full disk or a diverged run ends with one line and a non-zero
exit, and a run killed with SIGKILL at five points (one inside a checkpoint write, one half
way through writing best.flowkit) and resumed gives bitwise the same models and losses."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import flowkit as fk
from flowkit.cli import main

JOB = Path(__file__).with_name("_train_job.py")
# two moons, 5 % of the train split (3 epochs of 7 steps of 64), checkpoints every 3 steps
MOONS = ["--data", "moons", "--quiet", "--width", "8", "--layers", "2", "--epochs", "3",
         "--batch-size", "64", "--val-fraction", "0.95", "--checkpoint-every", "3"]  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]


def _params(path) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(fk.load(path))]


def _losses(run) -> list[float]:
    return [r["loss"] for r in fk.train.read_metrics(run / "metrics.jsonl")]


def _history(run) -> dict:
    history = json.loads((run / "history.json").read_text())
    history.pop("seconds")
    return history


def _same_run(a: Path, b: Path) -> None:
    assert _losses(a) == _losses(b)
    assert _history(a) == _history(b)
    for name in ("best.flowkit", "last.flowkit"):
        for x, y in zip(_params(a / name), _params(b / name), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)


def _one_line(capsys, argv, status: int) -> str:
    assert main(argv) == status
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "reference"
    assert main(["train", "--out", str(out), *MOONS]) == 0
    return out


def test_a_run_directory_is_refused_replaced_or_resumed(reference, tmp_path, capsys):
    line = _one_line(capsys, ["train", "--out", str(reference), *MOONS], 2)
    assert f"{reference} already holds a run (best.flowkit, last.flowkit" in line
    assert "continue it with resume=True (flowkit train --resume)" in line
    assert "replace it with overwrite=True (--overwrite)" in line
    copy = tmp_path / "copy"
    assert main(["train", "--out", str(copy), *MOONS]) == 0
    (copy / "old.png").write_bytes(b"a figure of the earlier run")
    assert main(["train", "--out", str(copy), "--overwrite", *MOONS]) == 0
    assert not (copy / "old.png").exists()
    _same_run(copy, reference)
    assert main(["train", "--out", str(copy), "--resume", *MOONS]) == 0  # finished: unchanged
    _same_run(copy, reference)
    line = _one_line(capsys, ["train", "--out", str(copy), "--resume", "--overwrite", *MOONS], 2)
    assert "--resume continues the run in --out, --overwrite deletes it; pick one" in line
    a_file = tmp_path / "a_file"
    a_file.write_text("not a run")
    line = _one_line(capsys, ["train", "--out", str(a_file), *MOONS], 2)
    assert f"run directory {a_file} is an existing file, not a folder" in line


def test_fit_refuses_a_run_directory_holding_a_run(reference):
    flow = fk.realnvp(jax.random.key(0), dim=2, num_layers=1, width=4)
    data = np.asarray(fk.two_moons(jax.random.key(1), 200))
    with pytest.raises(fk.train.RunDirError, match=r"already holds a run .* overwrite=True"):
        fk.fit(jax.random.key(0), flow, data, run=reference, progress=False)
    with pytest.raises(fk.train.RunDirError, match=r"resume=True continues a run, overwrite="):
        fk.RunDir(reference, resume=True, overwrite=True)


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_during_a_checkpoint_ends_in_one_line_and_resume_continues(
    reference, tmp_path, capsys, monkeypatch
):
    from flowkit.train import _process_state

    out = tmp_path / "run"
    save = _process_state.ProcessStateHandler.save
    calls = []

    def full_at_third(self, directory, args):
        calls.append(1)
        if len(calls) == 3:
            _no_space()
        return save(self, directory, args)

    monkeypatch.setattr(_process_state.ProcessStateHandler, "save", full_at_third)
    line = _one_line(capsys, ["train", "--out", str(out), *MOONS], 1)
    assert f"cannot write {out / 'checkpoints'}" in line and "no space left on the device" in line
    assert not list((out / "checkpoints").glob("*tmp*"))  # no half-written step left
    assert fk.train.Checkpointer(out / "checkpoints").all_steps() == [3, 6]  # the last good
    monkeypatch.setattr(_process_state.ProcessStateHandler, "save", save)
    assert main(["train", "--out", str(out), "--resume", *MOONS]) == 0
    _same_run(out, reference)


def test_a_full_disk_while_writing_a_model_or_figure_ends_in_one_line(
    reference, tmp_path, capsys, monkeypatch
):
    from flowkit.io import _write

    out = tmp_path / "run"
    write = _write.atomic_write

    def full_for_models(path, fn):
        if Path(path).name == "last.flowkit":
            return write(path, _no_space)  # the bytes do not fit
        return write(path, fn)

    monkeypatch.setattr(_write, "atomic_write", full_for_models)
    line = _one_line(capsys, ["train", "--out", str(out), *MOONS], 1)
    assert line.endswith(f"cannot write {out / 'last.flowkit'}: no space left on the device")
    monkeypatch.setattr(_write, "atomic_write", write)
    assert main(["train", "--out", str(out), "--resume", *MOONS]) == 0
    _same_run(out, reference)
    from flowkit.cli import _run_files

    with pytest.raises(_write.WriteError, match=r"cannot write .*loss.png: no space left"):
        _run_files.write_figure(tmp_path / "loss.png", _no_space)
    assert not list(tmp_path.glob(".loss*"))


def test_a_diverged_run_stops_with_one_line_and_a_nonzero_exit(tmp_path, capsys):
    line = _one_line(capsys, ["train", "--out", str(tmp_path / "a"), *MOONS, "--lr", "1e30"], 1)
    assert "training diverged: " in line and "lower the learning rate" in line
    stop = ["--lr", "1e30", "--on-nonfinite", "stop"]
    line = _one_line(capsys, ["train", "--out", str(tmp_path / "b"), *MOONS, *stop], 1)
    assert "non-finite" in line and "training stopped (on_nonfinite='stop')" in line


def _job(point: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # one compilation cache for the job's processes: the later ones load the programs
        "JAX_COMPILATION_CACHE_DIR": str(out.parent / "jax-cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    return subprocess.run(
        [sys.executable, str(JOB), point, "train", "--out", str(out), *MOONS, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_killed_at_five_points_then_resumed_gives_identical_models(reference, tmp_path):
    out = tmp_path / "run"
    points = ["step:5", "checkpoint:2", "best:2", "history:2", "report"]
    left_behind = {"checkpoint:2": "checkpoints/*orbax-checkpoint-tmp*", "best:2": ".best*.tmp"}
    for i, point in enumerate(points):
        done = _job(point, out, *(["--resume"] if i else []))
        assert done.returncode == -9, (point, done.stderr[-2000:])
        if point in left_behind:  # killed in the middle of the write, as meant
            assert list(out.glob(left_behind[point])), point
    done = _job("none", out, "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    _same_run(out, reference)
    assert not list(out.glob(".*.tmp")) and not list((out / "checkpoints").glob("*tmp*"))
