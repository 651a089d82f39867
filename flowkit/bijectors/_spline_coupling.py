"""Neural spline coupling (Durkan et al. 2019): a coupling layer with a spline transformer."""

from collections.abc import Callable

import jax
import numpy as np

from .._typing import PRNGKeyArray, Shape
from ._coupling import Coupling, _mlp_coupling
from ._spline import RationalQuadraticSplineTransformer


def SplineCoupling(
    mask: np.ndarray,
    *,
    key: PRNGKeyArray,
    num_bins: int = 8,
    tail_bound: float = 3.0,
    width: int = 64,
    depth: int = 2,
    activation: Callable = jax.nn.relu,
    cond_shape: Shape | None = None,
) -> Coupling:
    """NSF coupling: entries where ``mask`` is False go through a rational-quadratic spline.

    Each transformed entry gets ``3 * num_bins - 1`` spline parameters from an MLP of the
    kept entries (and the condition); identity outside ``+/-tail_bound``. The MLP's last
    layer is zero, so a fresh layer is the identity.
    """
    mask = np.asarray(mask, bool)
    transformer = RationalQuadraticSplineTransformer(num_bins, tail_bound)
    mlp, cond_shape = _mlp_coupling(mask, transformer, key, width, depth, activation, cond_shape)
    return Coupling(mask, mlp, transformer, cond_shape)
