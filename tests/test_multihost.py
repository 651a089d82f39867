"""Multi-process training over loopback: real jax.distributed runs of 2 processes x 4 fake
CPU devices (tests/_multihost_job.py) against one process with 8, a process SIGKILLed and
the run resumed, and wrong configurations. Every process is killed in ``finally``."""

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from flowkit import distributed
from flowkit.cli._launch import FLOWKIT, join_launched_run
from flowkit.distributed._initialize import _cluster_detected

sys.path.insert(0, str(Path(__file__).parent))
import _multihost_job as job  # noqa: E402

JOB = str(Path(job.__file__))
STEPS = 8  # checkpoints after steps 4 and 8
HEARTBEAT = 10  # seconds without heartbeats before a process counts as dead
TIMEOUT = 240  # any one run
DELAY = ("--delay", "0.4")  # seconds after each step of the run to be killed


def _env(cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWKIT_")}
    return {
        **env,
        # one persistent compilation cache: later runs load the first run's programs
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        "FLOWKIT_HEARTBEAT_TIMEOUT": str(HEARTBEAT),
        "FLOWKIT_SHUTDOWN_TIMEOUT": str(HEARTBEAT),
        "FLOWKIT_INIT_TIMEOUT": "60",
    }


def _flowkit(*args: str, env: dict, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``flowkit ARGS`` in a subprocess (the launcher kills its processes when it ends)."""
    command = [sys.executable, "-c", FLOWKIT, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def _launch(out: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return _flowkit(
        "launch", "-n", "2", "--devices-per-process", "4", "--", JOB, str(out), *args, env=env
    )


def _losses(path: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in path.read_text().splitlines() if line]


def _last_step(path: Path) -> int:
    steps = [0]
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                steps.append(json.loads(line)["step"])
            except ValueError:
                pass  # a line being written
    return steps[-1]


def _shared(tmp_path_factory) -> Path:
    """A folder of this test session that all xdist workers see."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return _shared(tmp_path_factory) / "multihost-jax-cache"


@pytest.fixture(scope="module")
def two_by_four(tmp_path_factory, cache) -> Path:
    """An uninterrupted run of 2 processes x 4 devices, sharded then pmap steps; made once
    per session, whichever xdist worker needs it first (the others wait for it)."""
    shared = _shared(tmp_path_factory)
    out = shared / "multihost-two-by-four"
    with _locked(shared / "multihost-two-by-four.lock"):
        if not (out / "done").exists():
            shutil.rmtree(out, ignore_errors=True)
            done = _launch(out, "--kinds", "shard,pmap", "--steps", str(STEPS), env=_env(cache))
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            for kind in ("shard", "pmap"):
                assert f"[0] {kind} process=0 resumed_from=0" in done.stdout
                assert f"[1] {kind} process=1 resumed_from=0" in done.stdout
            (out / "done").touch()
    return out


@pytest.mark.parametrize("kind", ["shard", "pmap"])
def test_two_processes_by_four_devices_match_one_process_by_eight(kind, two_by_four, tmp_path):
    job.run(tmp_path, kind, steps=STEPS)  # the reference: this process, 8 devices
    # Measured: parameters and optimiser state differ by <= 1.5e-8 and losses by ~1e-7
    # relative (float32 sums in another order across processes); tolerances leave margin
    # and still catch a wrong share of the batch (losses then differ by ~1e-2).
    np.testing.assert_allclose(
        _losses(two_by_four / kind / "metrics.jsonl"),
        _losses(tmp_path / kind / "metrics.jsonl"),
        rtol=1e-6,
    )
    many, one = np.load(two_by_four / kind / "final.npz"), np.load(tmp_path / kind / "final.npz")
    assert many.files == one.files
    for name in one.files:
        np.testing.assert_allclose(many[name], one[name], rtol=0, atol=2e-6, err_msg=name)


def test_killed_process_stops_the_others_and_the_run_resumes(two_by_four, cache, tmp_path):
    env, jobs = _env(cache), []
    port = distributed.free_port()
    metrics = tmp_path / "shard" / "metrics.jsonl"
    logs = [tmp_path / f"process{i}.log" for i in range(2)]
    try:
        for i, log in enumerate(logs):
            process_env = distributed.process_env(
                i, 2, f"127.0.0.1:{port}", devices_per_process=4, base=env
            )
            with open(log, "w") as sink:
                jobs.append(
                    subprocess.Popen(
                        [sys.executable, JOB, str(tmp_path), "--steps", str(STEPS), *DELAY],
                        env=process_env,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + TIMEOUT
        while _last_step(metrics) < 5:  # past the checkpoint of step 4
            assert all(j.poll() is None for j in jobs), logs[0].read_text()[-3000:]
            assert time.monotonic() < deadline, "the run did not reach step 5 in time"
            time.sleep(0.02)
        jobs[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        jobs[0].wait(timeout=60)  # raises TimeoutExpired on a hang
        waited = time.monotonic() - killed
    finally:
        for j in jobs:
            if j.poll() is None:
                j.kill()
            j.wait()
    # JAX's coordination service (or gloo, if it was inside a collective) ends the survivor
    print(f"the surviving process exited with {jobs[0].returncode} after {waited:.1f} s")
    assert jobs[0].returncode != 0 and waited < 60, logs[0].read_text()[-3000:]
    assert 5 <= _last_step(metrics) < STEPS
    done = _launch(tmp_path, "--steps", str(STEPS), env=env)  # resumes from step 4
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[0] shard process=0 resumed_from=4" in done.stdout
    assert "[1] shard process=1 resumed_from=4" in done.stdout
    assert _losses(metrics) == _losses(two_by_four / "shard" / "metrics.jsonl")


def test_wrong_configurations_give_one_clear_line(cache, tmp_path, monkeypatch, capsys):
    # what every `flowkit` process does first (join_launched_run): it stops before JAX's own
    # initialisation, which could not run in this already initialised process anyway
    nobody = f"127.0.0.1:{distributed.free_port()}"
    monkeypatch.setenv("FLOWKIT_COORDINATOR", nobody)
    monkeypatch.setenv("FLOWKIT_NUM_PROCESSES", "2")
    monkeypatch.setenv("FLOWKIT_INIT_TIMEOUT", "1")
    for process_id, message in [
        (
            "2",
            "process id 2 is out of range for 2 processes; give each process a distinct id "
            "in 0..1.",
        ),
        (
            "1",
            f"process 1 of 2 could not reach the coordinator at {nobody} within 1 s "
            "(Connection refused); check that process 0 runs there and the address and port are "
            "reachable.",
        ),
    ]:
        monkeypatch.setenv("FLOWKIT_PROCESS_ID", process_id)
        with pytest.raises(SystemExit) as stopped:
            join_launched_run()
        assert stopped.value.code == 2
        assert capsys.readouterr().err == f"flowkit: error: {message}\n"
    monkeypatch.delenv("FLOWKIT_COORDINATOR")
    with pytest.raises(distributed.DistributedError, match=r"needs coordinator, num_processes"):
        distributed.initialize(detect=False)
    # a global batch that does not split over the 8 devices of 2 processes
    done = _launch(tmp_path, "--batch-size", "12", env=_env(cache))
    assert done.returncode == 2
    message = "error: batch: a global batch of 12 examples does not split over 8 devices"
    lines = sorted(line for line in done.stdout.splitlines() if "error" in line)
    assert [line.split(";")[0] for line in lines] == [f"[0] {message}", f"[1] {message}"], lines
    assert "a process failed (exit status 2); ended all" in done.stderr


def test_one_process_is_a_no_op_and_clusters_are_detected(monkeypatch):
    for name in [k for k in os.environ if k.startswith(("FLOWKIT_", "SLURM_", "JAX_COORD"))]:
        monkeypatch.delenv(name)
    assert distributed.initialize(detect=False) is False
    assert distributed.initialize("127.0.0.1:1", 1, 0) is False  # one process: nothing to join
    # JAX's SLURM detection, which initialize() defers to when nothing else is given
    for name, value in [
        ("SLURM_JOB_ID", "7"),
        ("SLURM_STEP_NODELIST", "node[1-2]"),
        ("SLURM_NTASKS", "2"),
        ("SLURM_PROCID", "1"),
        ("SLURM_LOCALID", "0"),
    ]:
        monkeypatch.setenv(name, value)
    assert _cluster_detected()
