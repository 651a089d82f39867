"""The dtype policy of a flow's public entry points: inputs take the model's dtype.

With ``jax_enable_x64`` on, a float32 batch given to a float64 model (or float64 data to a
float32 model) would meet the model's parameters inside a ``lax.scan`` whose carry must keep
one dtype, and fail there ("scan body function carry input and carry output must have equal
types"), or fail strict dtype promotion. So a flow casts ``x`` and the condition to its own
dtype once, at the edge, before any scan.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, ArrayLike


def model_dtype(model) -> np.dtype | None:
    """The dtype of ``model``'s first floating-point array leaf (None if it holds none).

    Args:
        model: any pytree (a flow, a bijector).

    Returns:
        That dtype, e.g. ``float32``; None for a model without floating-point arrays.
    """
    for leaf in jax.tree_util.tree_leaves(model):
        if eqx.is_inexact_array(leaf) and not jnp.iscomplexobj(leaf):
            return np.dtype(leaf.dtype)
    return None


# Cast between these only: integers, bools and half precision are left for the layers to
# refuse with their own messages (raw pixels, labels, bfloat16 are mistakes to name).
_CAST = {np.dtype(np.float32), np.dtype(np.float64)}


def as_dtype(x: ArrayLike, dtype: np.dtype | None) -> Array:
    """float32/float64 ``x`` as an array of ``dtype`` (float32 or float64); else as it is.

    Integers, bools and half precision are left alone, so the layers' own messages
    ("expected a floating-point array", "use float32") still tell a user what was passed.

    Args:
        x: an array of any shape.
        dtype: the model's dtype (from :func:`model_dtype`), or None to leave ``x`` as it is.

    Returns:
        ``x`` as an array of the same shape, cast to ``dtype`` where the policy says.
    """
    x = jnp.asarray(x)
    if dtype is None or x.dtype == dtype or {x.dtype, dtype} - _CAST:
        return x
    return x.astype(dtype)
