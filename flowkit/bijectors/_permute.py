"""Permutations of the entries of an event (log-determinant 0)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, ArrayLike, Int, PRNGKeyArray, Shape
from ._base import AbstractBijector
from ._checks import is_concrete


class Permute(AbstractBijector):
    """``y.ravel() = x.ravel()[permutation]`` for a permutation of all event entries.

    The permutation is an integer array leaf, so a :class:`Stack` can hold a different one
    per layer (integer leaves are never trained).

    Args:
        permutation: a permutation of ``0 .. n-1``, shape ``(n,)``, ``n`` the number of
            event entries.
        shape: the event shape, holding ``n`` entries; default ``(n,)``.

    Raises:
        ValueError: if a concrete ``permutation`` is not a 1-D permutation of ``0 .. n-1``
            or ``shape`` does not hold ``n`` entries.
    """

    exact_inverse = True  # one closed-form pass each way

    permutation: Int[Array, " n"]
    inverse_permutation: Int[Array, " n"]
    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True, default=None)

    def __init__(self, permutation: ArrayLike, shape: Shape | None = None):
        if isinstance(permutation, jax.Array) and not is_concrete(permutation):
            # Built inside filter_vmap (a Stack of random permutations): no value checks.
            self.shape = (permutation.shape[-1],) if shape is None else tuple(shape)
            self.permutation = permutation
            self.inverse_permutation = jnp.argsort(permutation)
            return
        perm = np.asarray(permutation)
        if perm.ndim != 1 or not np.array_equal(np.sort(perm), np.arange(perm.size)):
            raise ValueError(
                f"Permute: expected a permutation of 0..n-1 as a 1-D array; got {perm}."
            )
        self.shape = (perm.size,) if shape is None else tuple(shape)
        if int(np.prod(self.shape)) != perm.size:
            raise ValueError(f"Permute: shape {self.shape} does not hold {perm.size} entries.")
        self.permutation = jnp.asarray(perm, jnp.int32)
        self.inverse_permutation = jnp.asarray(np.argsort(perm), jnp.int32)

    def forward_and_log_det(self, x, condition):
        y = x.reshape(-1)[self.permutation].reshape(self.shape)
        return y, jnp.zeros((), x.dtype)

    def inverse_and_log_det(self, y, condition):
        x = y.reshape(-1)[self.inverse_permutation].reshape(self.shape)
        return x, jnp.zeros((), y.dtype)


def random_permutation(key: PRNGKeyArray, shape: Shape) -> Permute:
    """A :class:`Permute` with a uniformly random permutation of the event's entries.

    Args:
        key: the random key that draws the permutation.
        shape: the event shape.

    Returns:
        A Permute of events of shape ``shape``.
    """
    size = int(np.prod(shape))
    return Permute(jax.random.permutation(key, size), shape)


class Reverse(AbstractBijector):
    """Reverse the order of the event's entries (flattened, last index first).

    Args:
        shape: the event shape.
    """

    exact_inverse = True  # one closed-form pass each way

    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True)

    def __init__(self, shape: Shape):
        self.shape = tuple(shape)
        self.cond_shape = None

    def forward_and_log_det(self, x, condition):
        return x.reshape(-1)[::-1].reshape(self.shape), jnp.zeros((), x.dtype)

    def inverse_and_log_det(self, y, condition):
        return y.reshape(-1)[::-1].reshape(self.shape), jnp.zeros((), y.dtype)
