"""2-D density contours against data."""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ._figure import new_figure, save


def density_contours(
    path: str | Path,
    panels: Sequence[tuple[str, Callable[[np.ndarray], np.ndarray], np.ndarray]],
    *,
    extent: float | None = None,
    resolution: int = 120,
    cols: int = 4,
) -> Path:
    """One panel per ``(title, log_prob_fn, data)``: filled density with the data on top.

    Args:
        path: the PNG to write (parent folders are created).
        panels: ``(title, log_prob_fn, data)`` per panel; ``log_prob_fn`` maps points of
            shape ``(n, 2)`` to log-densities of shape ``(n,)``; ``data`` has shape ``(m, 2)``
            (at most 500 of its points are drawn).
        extent: the grid spans ``[-extent, extent]`` on both axes; ``None`` takes 1.2 times
            the 99.5th percentile of each panel's ``|data|``.
        resolution: grid points per axis.
        cols: panels per row.

    Returns:
        ``path`` as a ``Path``.
    """
    rows = -(-len(panels) // cols)
    ncols = min(cols, len(panels))
    fig = new_figure(3.0 * ncols, 3.0 * rows)
    for i, (title, log_prob, data) in enumerate(panels):
        data = np.asarray(data)
        lim = extent or float(np.percentile(np.abs(data), 99.5)) * 1.2
        grid = np.linspace(-lim, lim, resolution)
        xx, yy = np.meshgrid(grid, grid)
        points = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
        density = np.exp(np.asarray(log_prob(points), np.float64)).reshape(xx.shape)
        ax = fig.add_subplot(rows, ncols, i + 1)
        ax.contourf(xx, yy, np.nan_to_num(density), levels=30, cmap="viridis")
        shown = data[: min(len(data), 500)]
        ax.scatter(shown[:, 0], shown[:, 1], s=1.5, c="white", alpha=0.5)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    return save(fig, path)
