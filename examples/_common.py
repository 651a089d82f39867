"""What every example shares: its command line, its output folder and metrics file, and
image data with the MNIST / Fashion-MNIST fallback. Training is ``fk.fit``'s, in each
example.

Only flowkit's public API is used here, as in the examples themselves.
"""

import argparse
import json
import math
import platform
import time
from pathlib import Path

import jax
import numpy as np

from flowkit.data import DataError, load_dataset


def parse_args(description: str, argv=None, add_arguments=None) -> argparse.Namespace:
    """``--quick`` (a tiny run, seconds), ``--out DIR`` (default ``runs/<example>``),
    ``--seed`` and whatever ``add_arguments(parser)`` adds."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds), for tests")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    if add_arguments is not None:
        add_arguments(parser)
    return parser.parse_args(argv)


def output_dir(args: argparse.Namespace, name: str) -> Path:
    """The output folder (created): ``--out`` or ``runs/<name>`` (``-quick`` appended)."""
    out = args.out or Path("runs") / (name + ("-quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    return out


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic | np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf
    return value


def write_metrics(out: Path, metrics: dict, started: float) -> dict:
    """Add the wall time and the machine to ``metrics``, write ``metrics.json``, print it."""
    metrics = {
        **metrics,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "process_cpu_seconds": round(time.process_time(), 1),
        "jax": jax.__version__,
        "device": f"{jax.devices()[0].platform} x{jax.device_count()} ({platform.machine()})",
    }
    metrics = _json_ready(metrics)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    return metrics


def fit_metrics(history, last: int = 10) -> dict:
    """What every example reports of its ``fk.fit`` run (a ``FitHistory``)."""
    return {
        "final_train_bits_per_dim": float(np.mean(history.step_loss[-last:])),
        "epochs_run": history.epochs,
        "best_epoch": history.best_epoch,
        "val_bits_per_dim": history.best_val_loss,
        "train_seconds": round(history.seconds, 1),
        "seconds_per_step": round(history.seconds / history.steps, 3),
    }


def load_mnist_or_fashion(mnist_path: str | None = None, *, download: bool = True):
    """``(train, test, name)``: MNIST (from ``mnist_path``, the data folder, or a download)
    where it can be had, else Fashion-MNIST (e.g. Debian's ``dataset-fashion-mnist``)."""
    try:
        source = mnist_path or "mnist"
        train_set = load_dataset(source, "train", download=download)
        return train_set, load_dataset(source, "test", download=download), "mnist"
    except DataError as error:
        print(f"MNIST not available ({str(error).splitlines()[0][:160]}); using Fashion-MNIST.")
    train_set = load_dataset("fashion-mnist", "train", download=False)
    return train_set, load_dataset("fashion-mnist", "test", download=False), "fashion-mnist"


def subset(dataset, n: int | None, seed: int = 0):
    """``(x, labels)`` of ``n`` examples drawn without replacement (all if ``n`` is None)."""
    x, labels = dataset.x, dataset.labels
    if n is None or n >= len(x):
        return x, labels
    rows = np.random.default_rng(seed).choice(len(x), n, replace=False)
    return x[rows], None if labels is None else labels[rows]
