"""Per-example training losses: negative log-likelihood, and bits per dimension for images.

A loss is ``loss(model, x, condition, keys) -> dict`` of per-example arrays of shape
``(n,)``, one of them named ``"loss"`` (the objective; the step averages each entry over the
global batch). ``keys`` holds one PRNG key per example, derived from the step key and the
example's index in the global batch, so random draws (dequantization noise) are the same
whether the batch runs on one device, under ``pmap`` or sharded.
"""

import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, ArrayLike
from ..flows._image_data import bits_per_dim, dequantize

Loss = Callable[[Any, Array, Array | None, Array], dict[str, Array]]


def split_batch(batch: Any) -> tuple[ArrayLike, ArrayLike | None]:
    """``x`` and the condition (or None) of a batch: an array ``x``, a pair
    ``(x, condition)``, or a mapping with ``"x"`` and optionally ``"condition"``."""
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


def nll_loss(
    model, x: Array | np.ndarray, condition: Array | np.ndarray | None, keys: Array
) -> dict[str, Array]:
    """Negative log-likelihood ``-log p(x)`` in nats per example (keys unused)."""
    del keys
    nll = -model.log_prob(x, condition)
    return {"loss": nll, "nll": nll}


def bits_per_dim_loss(*, num_levels: int = 256, data_range: float = 1.0) -> Loss:
    """A loss in bits per dimension for images with ``num_levels`` pixel values.

    Float data are taken as already dequantized into an interval of length ``data_range``
    (1 for [0, 1]): ``bpd = (nll + D log(num_levels / data_range)) / (D log 2)``. Integer
    pixels are dequantized inside the step with uniform noise from the example's key.
    """

    def loss(
        model, x: Array | np.ndarray, condition: Array | np.ndarray | None, keys: Array
    ) -> dict[str, Array]:
        x = dequantize_pixels(keys, x, num_levels)
        nll = -model.log_prob(x, condition)
        dims = math.prod(x.shape[1:])
        bpd = bits_per_dim(-nll, dims, num_levels=num_levels, data_range=data_range)
        return {"loss": bpd, "nll": nll, "bpd": bpd}

    return loss
