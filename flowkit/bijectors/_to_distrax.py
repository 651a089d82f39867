"""A flowkit bijector as a distrax one.

This module imports distrax (and TensorFlow Probability), so ``flowkit.bijectors`` loads it
only when ``ToDistrax`` is first used; :class:`FromDistrax` (``_from_distrax``) needs no
distrax import.
"""

import distrax
import jax
import jax.numpy as jnp

from .._typing import Array
from ._base import AbstractBijector


class ToDistrax(distrax.Bijector):
    """A flowkit bijector as a ``distrax.Bijector`` (so ``distrax.Transformed`` accepts it).

    Inputs may carry leading batch dimensions, which are mapped with ``jax.vmap``.
    Conditional bijectors are not supported: distrax has no conditioning argument.
    """

    def __init__(self, bijector: AbstractBijector):
        if bijector.cond_shape is not None:
            raise ValueError(
                "ToDistrax: distrax bijectors take no condition; "
                "pass an unconditional flowkit bijector."
            )
        self.flowkit_bijector = bijector
        ndims = len(bijector.shape)
        super().__init__(event_ndims_in=ndims, event_ndims_out=ndims)

    def _batched(self, method: str, x: Array):
        fn = getattr(self.flowkit_bijector, method)
        event = tuple(self.flowkit_bijector.shape)
        batch = x.shape[: x.ndim - len(event)]
        flat = x.reshape((-1,) + event)
        y, log_det = jax.vmap(fn)(flat)
        return y.reshape(batch + event), log_det.reshape(batch)

    def forward_and_log_det(self, x: Array) -> tuple[Array, Array]:
        return self._batched("forward_and_log_det", jnp.asarray(x))

    def inverse_and_log_det(self, y: Array) -> tuple[Array, Array]:
        return self._batched("inverse_and_log_det", jnp.asarray(y))
