"""Gaussian noise augmentation inside a training step (TarFlow's training recipe)."""

import jax
import jax.numpy as jnp

from .._typing import Array
from ._losses import Loss, nll_loss


def noise_augmented_loss(noise_std: float, loss: Loss = nll_loss) -> Loss:
    """``loss`` on ``x + noise_std * N(0, 1)``, fresh noise per example from its key.

    Float data only (dequantize integer pixels first, e.g. with the Loader). The noise keys
    are folded from the example keys, so ``loss`` still gets keys of its own.
    """
    if noise_std < 0:
        raise ValueError(f"noise_augmented_loss: noise_std must be >= 0; got {noise_std}.")

    def noisy(model, x: Array, condition: Array | None, keys: Array) -> dict[str, Array]:
        def one(k, xi):
            return xi + noise_std * jax.random.normal(jax.random.fold_in(k, 1), xi.shape, xi.dtype)

        x = jax.vmap(one)(keys, jnp.asarray(x))
        return loss(model, x, condition, keys)

    return noisy
