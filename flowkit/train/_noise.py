"""Gaussian noise augmentation inside a training step (TarFlow's training recipe)."""

import jax
import jax.numpy as jnp

from .._typing import Array
from ._losses import Loss, dequantize_pixels, nll_loss


def noise_augmented_loss(
    noise_std: float, loss: Loss = nll_loss, *, num_levels: int | None = None
) -> Loss:
    """``loss`` on ``x + noise_std * N(0, 1)``, fresh noise per example from its key.

    Integer pixels are first dequantized into [0, 1] with ``num_levels`` levels (uniform
    noise from the example's key, as :func:`bits_per_dim_loss` does); float data are taken
    as they are. The noise keys are folded from the example keys, so ``loss`` still gets
    keys of its own.
    """
    if noise_std < 0:
        raise ValueError(f"noise_augmented_loss: noise_std must be >= 0; got {noise_std}.")

    def noisy(model, x: Array, condition: Array | None, keys: Array) -> dict[str, Array]:
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.integer):
            if num_levels is None:
                raise ValueError(
                    "noise_augmented_loss: integer pixels need num_levels= to be dequantized "
                    "before the noise is added."
                )
            x = dequantize_pixels(keys, x, num_levels)

        def one(k, xi):
            return xi + noise_std * jax.random.normal(jax.random.fold_in(k, 1), xi.shape, xi.dtype)

        return loss(model, jax.vmap(one)(keys, x), condition, keys)

    return noisy
