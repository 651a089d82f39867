"""Histograms of anomaly scores."""

from pathlib import Path

import numpy as np

from ._figure import new_figure, save


def anomaly_histogram(
    path: str | Path,
    scores: dict[str, np.ndarray],
    *,
    threshold: float | None = None,
    xlabel: str = "-log p(x)",
    title: str | None = None,
) -> Path:
    """Overlaid histograms of scores per group (e.g. in- vs out-of-distribution).

    Non-finite scores are dropped; the bins span the 0.5th to 99.5th percentile of all scores.

    Args:
        path: the PNG to write (parent folders are created).
        scores: group name to its scores, each of shape ``(n,)`` (``n`` may differ by group).
        threshold: if given, drawn as a dashed vertical line.
        xlabel: label of the score axis.
        title: the figure's title, if any.

    Returns:
        ``path`` as a ``Path``.
    """
    finite = {k: np.asarray(v)[np.isfinite(v)] for k, v in scores.items()}
    everything = np.concatenate(list(finite.values()))
    low, high = np.percentile(everything, [0.5, 99.5])
    bins = np.linspace(low, high, 50)
    fig = new_figure(6, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    for name, values in finite.items():
        ax.hist(np.clip(values, low, high), bins=bins, alpha=0.5, density=True, label=name)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.3g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    ax.legend()
    return save(fig, path)
