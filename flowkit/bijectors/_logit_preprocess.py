"""Logit preprocessing of images in [0, 1] (RealNVP), with its log-determinant."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Shape
from ._base import AbstractBijector


class LogitPreprocess(AbstractBijector):
    """``y = logit(alpha + (1 - 2 alpha) x)``: data in [0, 1] to the reals.

    Written in the density direction (data to model space): squeezing into
    ``[alpha, 1 - alpha]`` keeps the logit away from the infinite ends. Put it first in the
    model (``Chain([LogitPreprocess(shape), ...])``) so that ``log_prob`` of data in [0, 1]
    includes its log-determinant, ``D log(1 - 2 alpha) - sum(log p + log(1 - p))`` with
    ``p = alpha + (1 - 2 alpha) x``; bits per dimension then refer to the data.

    Args:
        shape: the event shape, e.g. ``(H, W, C)`` for an image.
        alpha: the margin kept from 0 and 1, in ``(0, 0.5)``.

    Raises:
        ValueError: if ``alpha`` is outside ``(0, 0.5)``.
    """

    # Saturates: in float32 sigmoid(20) == 1.0, whose logit is inf, so an input rebuilt
    # from the output could be wrong; invertible backprop stores it instead.
    exact_inverse = False

    alpha: float = eqx.field(static=True)
    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True)

    def __init__(self, shape: Shape, alpha: float = 0.05):
        if not 0.0 < alpha < 0.5:
            raise ValueError(
                f"LogitPreprocess: alpha must be in (0, 0.5) (data are mapped to "
                f"[alpha, 1 - alpha]; alpha = 0 sends 0 and 1 to -inf and inf); got {alpha}."
            )
        self.alpha = float(alpha)
        self.shape = tuple(shape)
        self.cond_shape = None

    def forward_and_log_det(self, x, condition):
        p = self.alpha + (1.0 - 2.0 * self.alpha) * x
        log_p, log_1mp = jnp.log(p), jnp.log1p(-p)
        scale = math.prod(self.shape) * math.log1p(-2.0 * self.alpha)
        return log_p - log_1mp, scale - jnp.sum(log_p + log_1mp)

    def inverse_and_log_det(self, y, condition):
        x = (jax.nn.sigmoid(y) - self.alpha) / (1.0 - 2.0 * self.alpha)
        # log sigmoid'(y) = -softplus(-y) - softplus(y), finite for any y.
        log_deriv = -jax.nn.softplus(-y) - jax.nn.softplus(y)
        scale = math.prod(self.shape) * math.log1p(-2.0 * self.alpha)
        return x, jnp.sum(log_deriv) - scale
