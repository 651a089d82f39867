"""Creating and saving figures without a display, and without touching pyplot.

Figures are plain ``matplotlib.figure.Figure`` objects drawn on their own Agg canvas, so
importing or using flowkit.plots never selects a global backend (``matplotlib.use``) or
registers figures with pyplot: the user's interactive backend, and their open figures, are
left as they were, and nothing needs closing.
"""

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """A figure of the given size in inches, on an Agg (file-only) canvas.

    Args:
        width: width in inches.
        height: height in inches.

    Returns:
        A figure not registered with pyplot.
    """
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` (parents created) and return the path.

    Args:
        fig: the figure.
        path: where to write; the suffix picks the format.
        dpi: resolution in dots per inch.

    Returns:
        ``path`` as a ``Path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
