"""Invertible 1x1 convolutions (Glow): one learned C x C matrix applied at every pixel."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, Float, Int, PRNGKeyArray, Shape
from ._base import AbstractBijector


def _check_shape(owner: str, shape: Shape) -> Shape:
    shape = tuple(shape)
    if len(shape) == 0 or shape[-1] < 1:
        raise ValueError(
            f"{owner}: expected an event with a channel axis (the last one), e.g. (H, W, C); "
            f"got shape {shape}."
        )
    return shape


def random_orthogonal(key: PRNGKeyArray, size: int) -> Array:
    """A random ``size x size`` orthogonal matrix: the Q of a Gaussian matrix's QR."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (size, size)))
    return q * jnp.sign(jnp.diagonal(r))  # sign fix: Haar distributed, never a zero column


class InvertibleConv1x1(AbstractBijector):
    """``y[h, w] = W @ x[h, w]`` with a learned ``(C, C)`` matrix, initially random orthogonal.

    The event's last axis is the channel axis (``(H, W, C)`` for an image); the
    log-determinant is ``H * W * log|det W|``, an O(C^3) ``slogdet`` per call. See
    :class:`InvertibleConv1x1LU` for the O(C) variant.

    Args:
        key: the random key that draws the initial orthogonal matrix.
        shape: the event shape, channels last, e.g. ``(H, W, C)``.

    Raises:
        ValueError: if ``shape`` has no channel axis (``()``) or zero channels.
    """

    exact_inverse = True  # one closed-form pass each way

    weight: Float[Array, "C C"]
    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True)

    def __init__(self, key: PRNGKeyArray, shape: Shape):
        self.shape = _check_shape("InvertibleConv1x1", shape)
        self.weight = random_orthogonal(key, self.shape[-1])
        self.cond_shape = None

    def _log_det(self, dtype) -> Array:
        return math.prod(self.shape[:-1]) * jnp.linalg.slogdet(self.weight)[1].astype(dtype)

    def forward_and_log_det(self, x, condition):
        return x @ self.weight.T.astype(x.dtype), self._log_det(x.dtype)

    def inverse_and_log_det(self, y, condition):
        inverse = jnp.linalg.inv(self.weight).astype(y.dtype)
        return y @ inverse.T, -self._log_det(y.dtype)


class InvertibleConv1x1LU(AbstractBijector):
    """The 1x1 convolution with ``W = P L (U + diag(sign * exp(log_s)))`` (Glow's LU form).

    ``P`` is a fixed permutation, ``L`` unit lower triangular, ``U`` strictly upper
    triangular and the diagonal's signs fixed; all come from the LU decomposition of a random
    orthogonal matrix. The log-determinant is ``H * W * sum(log_s)``: O(C). The fixed parts
    are integer arrays, so they are never trained; the strictly-lower / strictly-upper
    parts of ``lower`` / ``upper`` are the only entries used.

    Args:
        key: the random key that draws the orthogonal matrix the LU factors come from.
        shape: the event shape, channels last, e.g. ``(H, W, C)``.

    Raises:
        ValueError: if ``shape`` has no channel axis (``()``) or zero channels.
    """

    exact_inverse = True  # one closed-form pass each way

    lower: Float[Array, "C C"]
    upper: Float[Array, "C C"]
    log_s: Float[Array, " C"]
    sign: Int[Array, " C"]
    permutation: Int[Array, " C"]
    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True)

    def __init__(self, key: PRNGKeyArray, shape: Shape):
        self.shape = _check_shape("InvertibleConv1x1LU", shape)
        lu, _, permutation = jax.lax.linalg.lu(random_orthogonal(key, self.shape[-1]))
        # W[permutation] = L @ U, so W = P @ L @ U with P the inverse row permutation.
        diagonal = jnp.diagonal(lu)
        self.lower = jnp.tril(lu, -1)
        self.upper = jnp.triu(lu, 1)
        self.log_s = jnp.log(jnp.abs(diagonal))
        self.sign = jnp.sign(diagonal).astype(jnp.int32)
        self.permutation = permutation.astype(jnp.int32)
        self.cond_shape = None

    def _factors(self, dtype) -> tuple[Array, Array]:
        c = self.shape[-1]
        strict_lower = np.tril(np.ones((c, c), bool), -1)
        lower = jnp.where(strict_lower, self.lower, 0).astype(dtype) + jnp.eye(c, dtype=dtype)
        diagonal = self.sign.astype(dtype) * jnp.exp(self.log_s).astype(dtype)
        upper = jnp.where(strict_lower.T, self.upper, 0).astype(dtype) + jnp.diag(diagonal)
        return lower, upper

    def weight(self, dtype=None) -> Array:
        """The matrix ``W`` this layer applies.

        Args:
            dtype: the dtype to compute ``W`` in; None: that of ``log_s``.

        Returns:
            ``W``, shape ``(C, C)``.
        """
        lower, upper = self._factors(dtype or self.log_s.dtype)
        return (lower @ upper)[jnp.argsort(self.permutation)]

    def _log_det(self, dtype) -> Array:
        return math.prod(self.shape[:-1]) * jnp.sum(self.log_s).astype(dtype)

    def forward_and_log_det(self, x, condition):
        return x @ self.weight(x.dtype).T, self._log_det(x.dtype)

    def inverse_and_log_det(self, y, condition):
        lower, upper = self._factors(y.dtype)
        rows = y.reshape(-1, self.shape[-1])[:, self.permutation].T  # P^-1 y, pixels as columns
        z = jax.scipy.linalg.solve_triangular(lower, rows, lower=True, unit_diagonal=True)
        x = jax.scipy.linalg.solve_triangular(upper, z, lower=False)
        return x.T.reshape(self.shape), -self._log_det(y.dtype)
