"""Activation normalisation (Glow): a per-channel affine map with data-dependent init."""

import math

import equinox as eqx
import jax.numpy as jnp

from .._typing import Array, Float, Shape
from ._base import AbstractBijector


class ActNorm(AbstractBijector):
    """``y = x * exp(log_scale) + loc`` per channel (the last axis of the event).

    For an image ``(H, W, C)`` the parameters have shape ``(C,)`` and the log-determinant
    is ``H * W * sum(log_scale)``. A fresh layer is the identity; :func:`flowkit.data_init`
    returns a model whose ActNorm layers map a given batch to zero mean and unit variance per
    channel, in whichever direction the model's density pass runs them.

    Args:
        shape: the event shape, channels last, e.g. ``(H, W, C)`` or ``(C,)``.

    Raises:
        ValueError: if ``shape`` is ``()`` (no channel axis).
    """

    exact_inverse = True  # one closed-form pass each way

    loc: Float[Array, " C"]
    log_scale: Float[Array, " C"]
    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True)

    def __init__(self, shape: Shape):
        shape = tuple(shape)
        if len(shape) == 0:
            raise ValueError(
                "ActNorm: expected an event with a channel axis (the last one), e.g. "
                "(H, W, C) or (C,); got a scalar event shape ()."
            )
        self.shape = shape
        self.loc = jnp.zeros(shape[-1])
        self.log_scale = jnp.zeros(shape[-1])
        self.cond_shape = None

    def _log_det(self, dtype) -> Array:
        return math.prod(self.shape[:-1]) * jnp.sum(self.log_scale).astype(dtype)

    def forward_and_log_det(self, x, condition):
        return x * jnp.exp(self.log_scale) + self.loc, self._log_det(x.dtype)

    def inverse_and_log_det(self, y, condition):
        return (y - self.loc) * jnp.exp(-self.log_scale), -self._log_det(y.dtype)

    def initialised(
        self, batch: Float[Array, "N ..."], inverse: bool, eps: float = 1e-6
    ) -> "ActNorm":
        """A copy whose forward (or inverse) maps ``batch`` to zero mean, unit variance.

        Args:
            batch: events with a leading batch axis, shape ``(N, *shape)`` (or
                ``(N, *out_shape)`` when ``inverse``).
            inverse: standardise ``batch`` under the inverse map instead of the forward.
            eps: added to each channel's variance so a constant channel stays finite.

        Returns:
            An ActNorm like this one with ``loc`` and ``log_scale`` (shape ``(C,)``) set.
        """
        axes = tuple(range(batch.ndim - 1))
        mean = jnp.mean(batch, axis=axes)
        # eps keeps a constant channel (zero variance) from producing an infinite scale.
        std = jnp.sqrt(jnp.var(batch, axis=axes) + eps)
        dtype = self.loc.dtype
        if inverse:  # x = (y - loc) / s standardises y: loc = mean, s = std
            loc, log_scale = mean, jnp.log(std)
        else:  # y = x * s + loc standardises x: s = 1 / std, loc = -mean / std
            loc, log_scale = -mean / std, -jnp.log(std)
        new = eqx.tree_at(lambda a: a.loc, self, loc.astype(dtype))
        return eqx.tree_at(lambda a: a.log_scale, new, log_scale.astype(dtype))
