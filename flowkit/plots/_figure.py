"""Creating and saving figures without a display."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures only ever go to files
import matplotlib.pyplot as plt  # noqa: E402


def new_figure(width: float, height: float):
    """A figure of the given size in inches."""
    return plt.figure(figsize=(width, height))


def save(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` (parents created), close it and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path
