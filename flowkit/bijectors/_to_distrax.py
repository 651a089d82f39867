"""A flowkit bijector as a distrax one.

This module imports distrax (and TensorFlow Probability), so ``flowkit.bijectors`` loads it
only when ``ToDistrax`` is first used; :class:`FromDistrax` (``_from_distrax``) needs no
distrax import.
"""

import distrax
import jax
import jax.numpy as jnp

from .._typing import Array, Shape
from ._base import AbstractBijector


class ToDistrax(distrax.Bijector):
    """A flowkit bijector as a ``distrax.Bijector`` (so ``distrax.Transformed`` accepts it).

    Inputs may carry leading batch dimensions, which are mapped with ``jax.vmap``; shape-
    changing bijectors (e.g. :class:`Squeeze`) keep the batch dimensions and change the event
    part: ``forward`` maps ``(*batch, *shape)`` to ``(*batch, *out_shape)``. Conditional
    bijectors are not supported: distrax has no conditioning argument.

    Args:
        bijector: an unconditional flowkit bijector.

    Raises:
        ValueError: if ``bijector`` is conditional (its ``cond_shape`` is not None).
    """

    def __init__(self, bijector: AbstractBijector):
        if bijector.cond_shape is not None:
            raise ValueError(
                "ToDistrax: distrax bijectors take no condition; "
                "pass an unconditional flowkit bijector."
            )
        self.flowkit_bijector = bijector
        super().__init__(
            event_ndims_in=len(bijector.shape), event_ndims_out=len(bijector.out_shape)
        )

    def _batched(self, method: str, x: Array, event: Shape, out_event: Shape):
        fn = getattr(self.flowkit_bijector, method)
        if tuple(x.shape[x.ndim - len(event) :]) != event or x.ndim < len(event):
            raise ValueError(
                f"ToDistrax.{method}: expected an array of shape (*batch, "
                f"{', '.join(map(str, event))}); got shape {x.shape}."
            )
        batch = x.shape[: x.ndim - len(event)]
        y, log_det = jax.vmap(fn)(x.reshape((-1,) + event))
        return y.reshape(batch + out_event), log_det.reshape(batch)

    def forward_and_log_det(self, x: Array) -> tuple[Array, Array]:
        b = self.flowkit_bijector
        return self._batched("forward_and_log_det", jnp.asarray(x), b.shape, b.out_shape)

    def inverse_and_log_det(self, y: Array) -> tuple[Array, Array]:
        b = self.flowkit_bijector
        return self._batched("inverse_and_log_det", jnp.asarray(y), b.out_shape, b.shape)
