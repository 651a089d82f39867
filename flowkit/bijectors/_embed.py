"""Learned embeddings of a condition, e.g. class labels for class-conditional flows."""

import equinox as eqx
import jax
import numpy as np

from .._typing import Array, Float, PRNGKeyArray, Shape
from ._base import AbstractBijector


class EmbedCondition(AbstractBijector):
    """Run a conditional ``bijector`` on a learned linear embedding of the condition.

    The condition is a vector of ``num_classes`` entries, typically a one-hot class label
    (``jax.nn.one_hot(label, num_classes)``); the inner bijector receives
    ``condition @ embedding``, so with one-hot labels each class gets its own learned
    vector of ``prod(bijector.cond_shape)`` entries (an embedding lookup). Soft labels or any
    other real vector of that length work too.

    Args:
        key: the random key that draws the embedding, shape ``(num_classes, E)`` with ``E``
            the size of ``bijector.cond_shape``.
        bijector: a conditional, shape-preserving bijector.
        num_classes: the length of the condition vector this layer takes, ``(num_classes,)``.

    Raises:
        ValueError: if ``bijector`` is unconditional or changes the event shape.
    """

    bijector: AbstractBijector
    embedding: Float[Array, "num_classes embed_size"]
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape = eqx.field(static=True)

    def __init__(self, key: PRNGKeyArray, bijector: AbstractBijector, num_classes: int):
        if bijector.cond_shape is None:
            raise ValueError(
                f"EmbedCondition: {type(bijector).__name__} is unconditional (cond_shape=None); "
                "build it with a cond_shape (the embedding size) to embed a condition."
            )
        if tuple(bijector.out_shape) != tuple(bijector.shape):
            raise ValueError("EmbedCondition supports shape-preserving bijectors only.")
        embed_size = int(np.prod(bijector.cond_shape))
        self.bijector = bijector
        self.embedding = jax.random.normal(key, (num_classes, embed_size))
        self.shape = tuple(bijector.shape)
        self.cond_shape = (num_classes,)

    def has_exact_inverse(self) -> bool:
        """As exact as the bijector it wraps."""
        return self.bijector.has_exact_inverse()

    def _embed(self, condition: Array | None) -> Array:
        assert condition is not None  # validated by the public methods (cond_shape is set)
        inner = condition.astype(self.embedding.dtype) @ self.embedding
        return inner.reshape(self.bijector.cond_shape)

    def forward_and_log_det(self, x, condition):
        return self.bijector.forward_and_log_det(x, self._embed(condition))

    def inverse_and_log_det(self, y, condition):
        return self.bijector.inverse_and_log_det(y, self._embed(condition))
