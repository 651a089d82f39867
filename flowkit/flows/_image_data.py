"""Image data for flows: uniform dequantization, scaling, and bits per dimension.

Pure functions of arrays. Discrete pixels with ``num_levels`` values (256 for 8 bits) become
continuous data in [0, 1): ``(x + u) / num_levels`` with ``u ~ U(0, 1)``. A density model
of those continuous data gives, for each pixel bin of width ``1 / num_levels``, a lower
bound on the discrete log-likelihood: ``log P(x) >= log p(y) - D log(num_levels)``.
"""

import math

import jax
import jax.numpy as jnp

from .._typing import Array, ArrayLike, DTypeLike, Float, PRNGKeyArray


def dequantize(
    key: PRNGKeyArray, x: ArrayLike, *, num_levels: int = 256, dtype: DTypeLike = jnp.float32
) -> Float[Array, "..."]:
    """``(x + u) / num_levels`` with ``u ~ U(0, 1)`` per entry.

    Args:
        key: draws ``u``.
        x: integers in ``0..num_levels-1``, any shape (one image or a batch).
        num_levels: number of discrete values per entry.
        dtype: the floating dtype of the result.

    Returns:
        Continuous values in [0, 1), the shape of ``x``.
    """
    x = jnp.asarray(x)
    u = jax.random.uniform(key, x.shape, dtype)
    # In float32, (255 + u) rounds to 256 once u > 1 - 2**-17, giving exactly 1.0 (logit: inf);
    # keep the result below 1 by the smallest step the dtype can represent there.
    below_one = 1.0 - jnp.finfo(dtype).epsneg
    return jnp.minimum((x.astype(dtype) + u) / num_levels, below_one)


def bits_per_dim(
    log_prob: ArrayLike, num_dims: int, *, num_levels: int = 256, data_range: float = 1.0
) -> Float[Array, "..."]:
    """Bits per dimension of discrete data from a continuous model's ``log_prob``.

    ``log_prob`` (any shape) is the log-density of dequantized data spread over an interval
    of length ``data_range`` (1 for [0, 1], 2 for [-1, 1]); each of the ``num_levels`` bins
    then has width ``data_range / num_levels`` and
    ``bpd = (-log_prob + D log(num_levels / data_range)) / (D log 2)``. For 8-bit data in
    [0, 1] that is ``(-log p(x) + D log 256) / (D log 2)``; a model with preprocessing
    (e.g. a logit) must include its log-determinant in ``log_prob``, as a Flow does.

    Args:
        log_prob: log-densities of dequantized events, any shape.
        num_dims: D, the number of entries of one event.
        num_levels: number of discrete values per entry.
        data_range: length of the interval the dequantized data fill.

    Returns:
        Bits per dimension, the shape of ``log_prob``.

    Raises:
        ValueError: if ``num_dims < 1``, ``num_levels < 2`` or ``data_range <= 0``.
    """
    if num_dims < 1 or num_levels < 2 or not data_range > 0:
        raise ValueError(
            f"bits_per_dim: need num_dims >= 1, num_levels >= 2, data_range > 0; got "
            f"{num_dims=}, {num_levels=}, {data_range=}."
        )
    correction = num_dims * math.log(num_levels / data_range)
    return (-jnp.asarray(log_prob) + correction) / (num_dims * math.log(2.0))
