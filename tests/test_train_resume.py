"""Kill-and-resume in subprocesses: a run SIGKILLed at a random step and resumed gives the
same loss sequence and bitwise the same parameters as an uninterrupted run."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

JOB = Path(__file__).with_name("_train_job.py")
NUM_STEPS = 40


def _env(cache: Path) -> dict:
    # A shared persistent compilation cache: the later runs load the first run's programs.
    return {
        **os.environ,
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def _run(out: Path, env: dict, delay: float = 0.0) -> str:
    done = subprocess.run(
        [sys.executable, str(JOB), str(out), str(NUM_STEPS), str(delay)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _last_step(metrics: Path) -> int:
    if not metrics.exists():
        return 0
    lines = metrics.read_text().splitlines()
    for line in reversed(lines):
        try:
            return json.loads(line)["step"]
        except ValueError:
            continue
    return 0


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_sigkilled_run_resumes_with_identical_losses_and_parameters(tmp_path):
    env = _env(tmp_path / "jax-cache")
    _run(tmp_path / "whole", env)
    kill_at = random.Random().randint(5, NUM_STEPS - 8)
    split = tmp_path / "split"
    log = tmp_path / "killed.log"
    with open(log, "w") as sink:
        job = subprocess.Popen(
            [sys.executable, str(JOB), str(split), str(NUM_STEPS), "0.05"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while _last_step(split / "metrics.jsonl") < kill_at and job.poll() is None:
            assert time.monotonic() < deadline, "the job did not reach the kill step in time"
            time.sleep(0.005)
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=30)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert job.returncode == -signal.SIGKILL, (kill_at, log.read_text()[-3000:])
    killed_at = _last_step(split / "metrics.jsonl")
    assert kill_at <= killed_at < NUM_STEPS
    resumed_from = int(_run(split, env).split("resumed_from=")[1])
    assert 0 < resumed_from <= killed_at and resumed_from % 4 == 0, (kill_at, resumed_from)
    assert _losses(split) == _losses(tmp_path / "whole"), f"killed at step {killed_at}"
    assert len(_losses(split)) == NUM_STEPS
    whole, resumed = np.load(tmp_path / "whole" / "final.npz"), np.load(split / "final.npz")
    assert whole.files == resumed.files
    for name in whole.files:
        np.testing.assert_array_equal(whole[name], resumed[name], err_msg=name)
