"""Neural spline coupling (Durkan et al. 2019): a coupling layer with a spline transformer."""

from collections.abc import Callable

import jax
import numpy as np

from .._typing import Array, PRNGKeyArray, Shape
from ._coupling import Coupling, _mlp
from ._spline import RationalQuadraticSplineTransformer


class SplineCoupling(Coupling):
    """NSF coupling: entries where ``mask`` is False go through a rational-quadratic spline.

    Each transformed entry gets ``3 * num_bins - 1`` spline parameters from an MLP of the
    kept entries (and the condition); identity outside ``+/-tail_bound``. The MLP's last
    layer is zero, so a fresh layer is the identity.
    """

    def __init__(
        self,
        key: PRNGKeyArray,
        mask: np.ndarray,
        *,
        num_bins: int = 8,
        tail_bound: float = 3.0,
        width: int = 64,
        depth: int = 2,
        activation: Callable[[Array], Array] = jax.nn.relu,
        cond_shape: Shape | None = None,
    ):
        mask = np.asarray(mask, bool)
        transformer = RationalQuadraticSplineTransformer(num_bins, tail_bound)
        mlp = _mlp(key, mask, transformer, width, depth, activation, cond_shape)
        super().__init__(mask, mlp, transformer, cond_shape)
