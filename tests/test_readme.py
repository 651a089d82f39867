"""The README's code runs as written, and its set-up commands are the ones CI uses."""

import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

from ._markdown import code_blocks

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return code_blocks(README, language)


def test_readme_example_fits_saves_and_samples_in_a_fresh_process(tmp_path, monkeypatch):
    train, sample = _blocks("python")[:2]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(train, str(README), "exec"), namespace)  # noqa: S102
    history = namespace["history"]
    assert 0 < history.best_epoch <= 15 and history.best_val_loss < history.initial_val_loss
    # the fresh process prints the loaded flow's log-densities of fixed points, bit for bit
    points = "jax.numpy.linspace(-1, 1, 8).reshape(4, 2)"
    check = f"\nprint(repr(flow.log_prob({points}).tolist()), samples.shape)"
    done = subprocess.run(
        [sys.executable, "-c", sample + check],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    *_, summary, last = done.stdout.strip().splitlines()
    assert summary.startswith("nll: ") and "(1000, 2)" in last
    expected = namespace["flow"].log_prob(jax.numpy.linspace(-1, 1, 8).reshape(4, 2))
    assert last == f"{np.asarray(expected).tolist()!r} (1000, 2)"


def test_readme_image_recipe_runs(capsys):
    code = _blocks("python")[2]
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
    history = namespace["history"]
    assert history.steps == 20 and len(history.step_loss) == 20
    assert history.best_val_loss < history.initial_val_loss
    assert capsys.readouterr().out.startswith("bits/dim: ")
    assert namespace["signed"].shape == (64,)


def test_readme_user_code_example_runs(capsys):
    code = _blocks("python")[3]
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
    assert namespace["samples"].shape == (16, 4)
    assert namespace["cflow"].cond_shape == (10,)
    assert "(128,)" in capsys.readouterr().out


def test_readme_commands_match_ci():
    install, tests = _blocks("bash")[:2]
    ci = (README.parent / ".ci" / "run").read_text()
    assert 'pip install -c constraints.txt -e ".[dev]"' in install and "flowkit train" in install
    assert 'pip install -q -c constraints.txt -e ".[dev]"' in ci
    assert tests.strip() == "python -m pytest -n 2 -q"
    assert "run_pytest -n 2 -q\n" in ci
