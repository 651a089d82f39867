"""The flowkit command line: the default job writes its outputs; user errors are one line."""

import json
import subprocess
import sys

from flowkit.cli import main


def test_train_writes_figures_and_metrics(tmp_path):
    assert main(["train", "--out", str(tmp_path), "--steps", "30", "--batch-size", "32"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == 30 and metrics["test_bits_per_dim"] > 0
    for name in ("samples.png", "loss.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_user_error_is_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from flowkit.cli import main; "
            "sys.exit(main(['train', '--steps', '0', '--out', sys.argv[1]]))",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "Warning" not in line and line.strip()]
    assert lines[-1] == "flowkit train: error: --steps and --batch-size must be >= 1; got 0 and 128"
    assert "Traceback" not in result.stderr
