"""Headless matplotlib figures: sample grids, training curves, 2-D densities, anomaly scores.

Every function writes a PNG to ``path`` and returns the path; nothing needs a display.
"""

from ._anomaly import anomaly_histogram as anomaly_histogram
from ._curves import training_curve as training_curve
from ._density import density_contours as density_contours
from ._images import image_grid as image_grid
from ._images import temperature_grid as temperature_grid

__all__ = [
    "anomaly_histogram",
    "density_contours",
    "image_grid",
    "temperature_grid",
    "training_curve",
]
