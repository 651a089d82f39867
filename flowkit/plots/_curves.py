"""Training curves."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._figure import new_figure, save


def smooth(values: Sequence[float], weight: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard-style smoothing).

    Args:
        values: the series, shape ``(n,)``.
        weight: the average's decay in ``[0, 1)``; larger is smoother.

    Returns:
        The smoothed series, float64 of shape ``(n,)``.
    """
    out, avg = [], 0.0
    for i, v in enumerate(np.asarray(values, np.float64), start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return np.asarray(out)


def training_curve(
    path: str | Path,
    steps: Sequence[int] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    ylabel: str = "loss",
    validation: tuple[Sequence[int] | np.ndarray, Sequence[float] | np.ndarray] | None = None,
    weight: float = 0.9,
) -> Path:
    """Save the raw (faint) and smoothed training curve, with validation points if given.

    Non-finite values are left out of the plot.

    Args:
        path: the PNG to write (parent folders are created).
        steps: the step of each value, shape ``(n,)``.
        values: the training values (e.g. the loss), shape ``(n,)``.
        ylabel: label of the value axis.
        validation: ``(steps, values)`` of the validation points, each of shape ``(m,)``.
        weight: smoothing weight of the exponential moving average, in ``[0, 1)``.

    Returns:
        ``path`` as a ``Path``.
    """
    vals = np.asarray(values, np.float64)
    finite = np.isfinite(vals)
    fig = new_figure(6, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    steps_arr = np.asarray(steps)
    ax.plot(steps_arr[finite], vals[finite], color="C0", alpha=0.25, lw=0.8, label="train")
    if finite.sum() > 1:
        ax.plot(
            steps_arr[finite],
            smooth(vals[finite].tolist(), weight),
            color="C0",
            lw=1.8,
            label="train (smoothed)",
        )
    if validation is not None:
        ax.plot(*validation, "o-", color="C1", lw=1.2, ms=3, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, path)
