"""Neural spline coupling (Durkan et al. 2019): a coupling layer with a spline transformer."""

from collections.abc import Callable

import jax
import numpy as np

from .._typing import Array, PRNGKeyArray, Shape
from ._coupling import Coupling, mlp_coupling
from ._spline import RationalQuadraticSplineTransformer


def spline_coupling(
    key: PRNGKeyArray,
    mask: np.ndarray,
    *,
    num_bins: int = 8,
    tail_bound: float = 3.0,
    width: int = 64,
    depth: int = 2,
    activation: Callable[[Array], Array] = jax.nn.relu,
    cond_shape: Shape | None = None,
) -> Coupling:
    """NSF coupling: entries where ``mask`` is False go through a rational-quadratic spline.

    Each transformed entry gets ``3 * num_bins - 1`` spline parameters from an MLP of the
    kept entries (and the condition); identity outside ``+/-tail_bound``. The MLP's last
    layer is zero, so a fresh layer is the identity.

    Args:
        key: initialises the MLP.
        mask: boolean array of the event shape; True entries are kept.
        num_bins: spline bins per entry.
        tail_bound: the spline acts on ``[-tail_bound, tail_bound]``.
        width: hidden units per MLP layer.
        depth: hidden layers.
        activation: the MLP's nonlinearity.
        cond_shape: the condition's shape (fed to the MLP flattened), or None.

    Returns:
        A :class:`Coupling` mapping events of ``mask.shape``.

    Raises:
        ValueError: the mask keeps every entry or none, or the spline settings are invalid
            (see :class:`RationalQuadraticSplineTransformer`).
    """
    transformer = RationalQuadraticSplineTransformer(num_bins, tail_bound)
    return mlp_coupling(
        key, mask, transformer, width=width, depth=depth, activation=activation,
        cond_shape=cond_shape,
    )  # fmt: skip
