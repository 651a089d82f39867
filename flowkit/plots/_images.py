"""Grids of image samples."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flowkit._typing import ArrayLike

from ._figure import new_figure, save


def _tile(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Tile ``(n, H, W, C)`` images into one ``(rows*H, cols*W, C)`` canvas (blank padded)."""
    n, h, w, c = images.shape
    canvas = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, c), images.dtype)
    for i in range(min(n, rows * cols)):
        r, q = divmod(i, cols)
        canvas[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = images[i]
    return canvas


def _as_images(samples: ArrayLike, image_shape: Sequence[int] | None) -> np.ndarray:
    x = np.asarray(samples, np.float64)
    if image_shape is not None:
        x = x.reshape((x.shape[0], *image_shape))
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(
            f"image_grid: expected images (n, H, W[, C]) or flat vectors with image_shape; "
            f"got shape {np.shape(samples)}."
        )
    return x


def _normalise(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    low, high = value_range
    return np.clip((x - low) / (high - low), 0.0, 1.0)


def image_grid(
    path: str | Path,
    samples: ArrayLike,
    *,
    image_shape: Sequence[int] | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    cols: int = 8,
    title: str | None = None,
    row_labels: Sequence[str] | None = None,
) -> Path:
    """Save ``samples`` (``(n, H, W, C)``, or flat with ``image_shape``) as a grid of images.

    Values are clipped to ``value_range`` and shown in grey (C=1) or colour (C=3).

    Args:
        path: the PNG to write (parent folders are created).
        samples: images of shape ``(n, H, W, C)`` or ``(n, H, W)``, or flat vectors of
            shape ``(n, H * W * C)`` with ``image_shape``.
        image_shape: ``(H, W, C)`` or ``(H, W)`` to reshape flat samples into.
        value_range: ``(low, high)`` mapped to black and white.
        cols: images per row.
        title: the figure's title, if any.
        row_labels: one label per row, shown on the left.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError: if ``samples`` are not images of rank 3 or 4 after the reshape.
    """
    x = _normalise(_as_images(samples, image_shape), value_range)
    rows = -(-x.shape[0] // cols)
    canvas = _tile(x, rows, cols)
    fig = new_figure(cols * 0.6 + (1.0 if row_labels else 0.0), rows * 0.6 + 0.4)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(
        canvas.squeeze(-1) if canvas.shape[-1] == 1 else canvas,
        cmap="gray",
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
    )
    ax.set_xticks([])
    if row_labels:
        h = x.shape[1]
        ax.set_yticks([r * (h + 1) + h / 2 for r in range(len(row_labels))], list(row_labels))
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title)
    return save(fig, path)


def temperature_grid(
    path: str | Path,
    samples_by_temperature: dict[float, np.ndarray],
    *,
    image_shape: Sequence[int] | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> Path:
    """One row of samples per temperature (as in Glow's T = 0.5, 0.7, 0.9, 1.0 figures).

    Every row shows as many samples as the smallest group has.

    Args:
        path: the PNG to write (parent folders are created).
        samples_by_temperature: temperature to its samples, each shaped as
            :func:`image_grid` takes them.
        image_shape: ``(H, W, C)`` or ``(H, W)`` to reshape flat samples into.
        value_range: ``(low, high)`` mapped to black and white.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError: if the samples are not images of rank 3 or 4 after the reshape.
    """
    temps = sorted(samples_by_temperature)
    rows = [_as_images(samples_by_temperature[t], image_shape) for t in temps]
    cols = min(r.shape[0] for r in rows)
    stacked = np.concatenate([r[:cols] for r in rows])
    return image_grid(
        path,
        stacked,
        value_range=value_range,
        cols=cols,
        row_labels=[f"T={t:g}" for t in temps],
        title="samples by temperature",
    )
