"""Elementwise bijectors: each entry of the event is mapped on its own.

The log-determinant of an elementwise map is the sum of the log-derivatives of its entries.
Parameter-free maps take ``shape`` (default ``()``, a scalar event).
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array, ArrayLike, Shape
from ._base import AbstractBijector
from ._checks import is_concrete


class AbstractElementwise(AbstractBijector):
    """An elementwise bijector. Subclasses give the map and its log-derivative per entry."""

    @abc.abstractmethod
    def _elementwise_forward(self, x: Array) -> tuple[Array, Array]:
        """Return ``(y, log|dy/dx|)``, both shaped like ``x``."""

    @abc.abstractmethod
    def _elementwise_inverse(self, y: Array) -> tuple[Array, Array]:
        """Return ``(x, log|dx/dy|)``, both shaped like ``y``."""

    def forward_and_log_det(self, x, condition):
        y, log_deriv = self._elementwise_forward(x)
        return y, jnp.sum(log_deriv)

    def inverse_and_log_det(self, y, condition):
        x, log_deriv = self._elementwise_inverse(y)
        return x, jnp.sum(log_deriv)


class Identity(AbstractElementwise):
    """``y = x``; log-determinant 0.

    Args:
        shape: the event shape, default ``()`` (a scalar event); the map acts on each entry.
        cond_shape: always ``None``: the map takes no condition.
    """

    exact_inverse = True  # one closed-form pass each way

    shape: Shape = eqx.field(static=True, default=())
    cond_shape: None = eqx.field(static=True, default=None)

    def _elementwise_forward(self, x):
        return x, jnp.zeros_like(x)

    def _elementwise_inverse(self, y):
        return y, jnp.zeros_like(y)


class Affine(AbstractElementwise):
    """``y = loc + scale * x`` with a positive ``scale`` stored as its logarithm.

    The event shape is the broadcast shape of ``loc`` and ``scale``.

    Args:
        loc: the shift, a scalar or an array shaped like the event.
        scale: the positive factor, a scalar or an array broadcastable with ``loc``.

    Raises:
        ValueError: if a concrete ``scale`` has an entry ``<= 0``.
    """

    exact_inverse = True  # one closed-form pass each way

    loc: Array
    log_scale: Array
    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True, default=None)

    def __init__(self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0):
        loc, scale = jnp.broadcast_arrays(jnp.asarray(loc, float), jnp.asarray(scale, float))
        # A traced scale (a model built under jit) cannot be checked here.
        if is_concrete(scale) and not bool(jnp.all(scale > 0)):
            raise ValueError(f"Affine: scale must be positive everywhere; got {scale}.")
        self.loc = loc
        self.log_scale = jnp.log(scale)
        self.shape = loc.shape

    def _elementwise_forward(self, x):
        return self.loc + jnp.exp(self.log_scale) * x, jnp.broadcast_to(self.log_scale, x.shape)

    def _elementwise_inverse(self, y):
        x = (y - self.loc) * jnp.exp(-self.log_scale)
        return x, jnp.broadcast_to(-self.log_scale, y.shape)


class Rescale(AbstractElementwise):
    """``y = low + (high - low) * x``: data in [0, 1] onto [low, high], no parameters.

    Put it first in an image model (density direction) to train on rescaled data while
    ``log_prob`` stays that of the data in [0, 1]: its log-determinant ``D log(high - low)``
    is part of every score, so bits/dim need no ``data_range``. ``(-1, 1)``: the signed
    scale; ``(-0.5, 0.5)``: Glow's ``x - 0.5``.

    Args:
        shape: the event shape, e.g. ``(H, W, C)`` for an image.
        low: where 0 goes.
        high: where 1 goes; greater than ``low``.

    Raises:
        ValueError: if ``high <= low``.
    """

    exact_inverse = True  # one closed-form pass each way

    shape: Shape = eqx.field(static=True)
    low: float = eqx.field(static=True)
    high: float = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True, default=None)

    def __init__(self, shape: Shape, low: float = -1.0, high: float = 1.0):
        if not high > low:
            raise ValueError(
                f"Rescale: need low < high (data in [0, 1] go to [low, high]); got "
                f"low={low}, high={high}."
            )
        self.shape, self.low, self.high = shape, float(low), float(high)

    def _elementwise_forward(self, x):
        width = self.high - self.low
        return self.low + width * x, jnp.full_like(x, math.log(width))

    def _elementwise_inverse(self, y):
        width = self.high - self.low
        return (y - self.low) / width, jnp.full_like(y, -math.log(width))


class Scale(AbstractElementwise):
    """``y = exp(log_scale) * x``: the diagonal scaling layer that ends a NICE flow.

    Args:
        log_scale: the logarithm of the factor per entry; its shape is the event shape.
    """

    exact_inverse = True  # one closed-form pass each way

    log_scale: Array
    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True, default=None)

    def __init__(self, log_scale: ArrayLike):
        self.log_scale = jnp.asarray(log_scale, float)
        self.shape = self.log_scale.shape

    def _elementwise_forward(self, x):
        return jnp.exp(self.log_scale) * x, jnp.broadcast_to(self.log_scale, x.shape)

    def _elementwise_inverse(self, y):
        return jnp.exp(-self.log_scale) * y, jnp.broadcast_to(-self.log_scale, y.shape)


class Exp(AbstractElementwise):
    """``y = exp(x)``, mapping the reals onto the positive reals.

    Args:
        shape: the event shape, default ``()`` (a scalar event); the map acts on each entry.
        cond_shape: always ``None``: the map takes no condition.
    """

    exact_inverse = True  # one closed-form pass each way

    shape: Shape = eqx.field(static=True, default=())
    cond_shape: None = eqx.field(static=True, default=None)

    def _elementwise_forward(self, x):
        return jnp.exp(x), x

    def _elementwise_inverse(self, y):
        x = jnp.log(y)
        return x, -x


class Sigmoid(AbstractElementwise):
    """``y = 1 / (1 + exp(-x))``, mapping the reals onto (0, 1); its inverse is the logit.

    Args:
        shape: the event shape, default ``()`` (a scalar event); the map acts on each entry.
        cond_shape: always ``None``: the map takes no condition.
    """

    # Saturates: in float32 sigmoid(20) == 1.0, whose logit is inf, so an input rebuilt
    # from the output could be wrong; invertible backprop stores it instead.
    exact_inverse = False

    shape: Shape = eqx.field(static=True, default=())
    cond_shape: None = eqx.field(static=True, default=None)

    def _elementwise_forward(self, x):
        # log sigma'(x) = log sigma(x) + log sigma(-x), written with softplus to avoid log(0).
        return jax.nn.sigmoid(x), -jax.nn.softplus(-x) - jax.nn.softplus(x)

    def _elementwise_inverse(self, y):
        log_y, log_1my = jnp.log(y), jnp.log1p(-y)
        return log_y - log_1my, -log_y - log_1my


class Logit(AbstractElementwise):
    """``y = log(x / (1 - x))``, mapping (0, 1) onto the reals; the inverse of Sigmoid.

    Args:
        shape: the event shape, default ``()`` (a scalar event); the map acts on each entry.
        cond_shape: always ``None``: the map takes no condition.
    """

    # Saturates: in float32 sigmoid(20) == 1.0, whose logit is inf, so an input rebuilt
    # from the output could be wrong; invertible backprop stores it instead.
    exact_inverse = False

    shape: Shape = eqx.field(static=True, default=())
    cond_shape: None = eqx.field(static=True, default=None)

    def _elementwise_forward(self, x):
        log_x, log_1mx = jnp.log(x), jnp.log1p(-x)
        return log_x - log_1mx, -log_x - log_1mx

    def _elementwise_inverse(self, y):
        return jax.nn.sigmoid(y), -jax.nn.softplus(-y) - jax.nn.softplus(y)


class Tanh(AbstractElementwise):
    """``y = tanh(x)``, mapping the reals onto (-1, 1).

    Args:
        shape: the event shape, default ``()`` (a scalar event); the map acts on each entry.
        cond_shape: always ``None``: the map takes no condition.
    """

    # Saturates: in float32 sigmoid(20) == 1.0, whose logit is inf, so an input rebuilt
    # from the output could be wrong; invertible backprop stores it instead.
    exact_inverse = False

    shape: Shape = eqx.field(static=True, default=())
    cond_shape: None = eqx.field(static=True, default=None)

    def _elementwise_forward(self, x):
        # log(1 - tanh(x)^2) = 2 (log 2 - x - softplus(-2x)), stable for large |x|.
        return jnp.tanh(x), 2.0 * (jnp.log(2.0) - x - jax.nn.softplus(-2.0 * x))

    def _elementwise_inverse(self, y):
        return jnp.arctanh(y), -jnp.log1p(-(y**2))


class LeakyReLU(AbstractElementwise):
    """``y = x`` for ``x >= 0`` and ``negative_slope * x`` below.

    Args:
        negative_slope: the slope below 0; must be ``> 0`` so the map stays invertible.
        shape: the event shape, default ``()`` (a scalar event); the map acts on each entry.
        cond_shape: always ``None``: the map takes no condition.

    Raises:
        ValueError: if ``negative_slope <= 0``.
    """

    exact_inverse = True  # one closed-form pass each way

    negative_slope: float = eqx.field(static=True, default=0.1)
    shape: Shape = eqx.field(static=True, default=())
    cond_shape: None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if not self.negative_slope > 0:
            raise ValueError(f"LeakyReLU: negative_slope must be > 0; got {self.negative_slope}.")

    def _elementwise_forward(self, x):
        neg = x < 0
        log_slope = jnp.log(self.negative_slope)
        return jnp.where(neg, self.negative_slope * x, x), jnp.where(neg, log_slope, 0.0)

    def _elementwise_inverse(self, y):
        neg = y < 0
        log_slope = jnp.log(self.negative_slope)
        return jnp.where(neg, y / self.negative_slope, y), jnp.where(neg, -log_slope, 0.0)


class Softplus(AbstractElementwise):
    """``y = log(1 + exp(x))``, mapping the reals onto the positive reals.

    Args:
        shape: the event shape, default ``()`` (a scalar event); the map acts on each entry.
        cond_shape: always ``None``: the map takes no condition.
    """

    # Saturates: in float32 sigmoid(20) == 1.0, whose logit is inf, so an input rebuilt
    # from the output could be wrong; invertible backprop stores it instead.
    exact_inverse = False

    shape: Shape = eqx.field(static=True, default=())
    cond_shape: None = eqx.field(static=True, default=None)

    def _elementwise_forward(self, x):
        return jax.nn.softplus(x), -jax.nn.softplus(-x)  # d/dx softplus = sigmoid(x)

    def _elementwise_inverse(self, y):
        x = y + jnp.log(-jnp.expm1(-y))  # inverse softplus, stable for large y
        return x, jax.nn.softplus(-x)
