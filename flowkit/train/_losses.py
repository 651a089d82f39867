"""What a training loss is, and the batch helpers the losses share.

The losses themselves are objects (:class:`flowkit.train.NLL`,
:class:`flowkit.train.BitsPerDim` in ``_loss_objects.py``). A loss is
``loss(model, x, condition, keys) -> dict`` of per-example arrays of shape ``(n,)``, one of
them named ``"loss"`` (the objective; the step averages each entry over the global batch).
``keys`` holds one PRNG key per example, derived from the step key and the example's index in
the global batch, so random draws (dequantization noise) are the same whether the batch runs
on one device, under ``pmap`` or sharded.
"""

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, ArrayLike
from ..flows._image_data import dequantize

Loss = Callable[[Any, Array, Array | None, Array], dict[str, Array]]


def split_batch(batch: Any) -> tuple[ArrayLike, ArrayLike | None]:
    """The data and the condition of a batch.

    Args:
        batch: an array ``x``, shape ``(B, *event)``, a pair ``(x, condition)``, or a
            mapping with ``"x"`` and optionally ``"condition"`` (``(B, *cond_shape)``).

    Returns:
        ``(x, condition)``, the condition None when the batch has none.

    Raises:
        ValueError: a mapping without ``"x"``, or a sequence that is not a pair.
    """
    if isinstance(batch, Mapping):
        if "x" not in batch:
            raise ValueError(
                f"a batch given as a mapping needs the data under 'x' (and any condition "
                f"under 'condition'); got keys {sorted(batch)}."
            )
        return batch["x"], batch.get("condition")
    if isinstance(batch, tuple | list):
        if len(batch) != 2:
            raise ValueError(
                f"a batch given as a sequence must be (x, condition); got {len(batch)} items."
            )
        return batch[0], batch[1]
    return batch, None


def dequantize_pixels(keys: Array, x: Array | np.ndarray, num_levels: int) -> Array:
    """A batch ``x`` as the losses see it: integer pixels dequantized into [0, 1), example
    ``i`` with ``keys[i]`` (so the noise does not depend on how the batch is split); float
    data unchanged."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        return x
    return jax.vmap(lambda k, xi: dequantize(k, xi, num_levels=num_levels))(keys, x)
