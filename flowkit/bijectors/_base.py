"""The bijector contract every flowkit layer follows."""

import abc

import equinox as eqx

from .._typing import Array, ArrayLike, Float, Scalar, Shape
from ._checks import check_condition, check_event, check_shape


class AbstractBijector(eqx.Module):
    """An invertible map of one event of shape ``shape`` with a tractable log-determinant.

    Single-event semantics: ``x`` has exactly ``shape`` and the log-determinant is a scalar.
    Batches go through ``jax.vmap`` (or :class:`flowkit.Flow`, which vmaps for you).

    Subclasses give:
        shape: the event shape the forward map takes, a tuple of ints (a static field).
        out_shape: the event shape it returns (and the inverse takes); ``shape`` for the
            shape-preserving majority (a property returning ``self.shape``), e.g.
            ``(H/2, W/2, 4C)`` for a squeeze.
        cond_shape: the shape of the condition, or None when unconditional.
        _forward_and_log_det(x, condition): the forward map on a validated event.
        _inverse_and_log_det(y, condition): its inverse.

    The public methods validate shape, dtype and condition, then call those two. A
    conditional bijector receives ``condition`` of shape ``cond_shape``; an unconditional one
    receives None. A bijector made of other bijectors derives from
    :class:`flowkit.AbstractComposite` instead, which gives both maps from its pieces.
    """

    shape: eqx.AbstractVar[Shape]
    out_shape: eqx.AbstractVar[Shape]
    cond_shape: eqx.AbstractVar[Shape | None]

    def __check_init__(self):
        owner = type(self).__name__
        check_shape(owner, "shape", self.shape)
        check_shape(owner, "out_shape", self.out_shape)
        if self.cond_shape is not None:
            check_shape(owner, "cond_shape", self.cond_shape)

    @abc.abstractmethod
    def _forward_and_log_det(
        self, x: Float[Array, "..."], condition: Array | None
    ) -> tuple[Float[Array, "..."], Scalar]:
        """Forward map and ``log|det dy/dx|`` of one validated event."""

    @abc.abstractmethod
    def _inverse_and_log_det(
        self, y: Float[Array, "..."], condition: Array | None
    ) -> tuple[Float[Array, "..."], Scalar]:
        """Inverse map and ``log|det dx/dy|`` of one validated event."""

    def forward_and_log_det(
        self, x: ArrayLike, condition: ArrayLike | None = None
    ) -> tuple[Float[Array, "..."], Scalar]:
        """Map ``x`` (shape ``shape``) forward; return ``(y, log|det dy/dx|)``."""
        name = type(self).__name__ + ".forward_and_log_det"
        x = check_event(name, "x", x, self.shape)
        condition = check_condition(name, condition, self.cond_shape)
        return self._forward_and_log_det(x, condition)

    def inverse_and_log_det(
        self, y: ArrayLike, condition: ArrayLike | None = None
    ) -> tuple[Float[Array, "..."], Scalar]:
        """Map ``y`` (shape ``out_shape``) back; return ``(x, log|det dx/dy|)``."""
        name = type(self).__name__ + ".inverse_and_log_det"
        y = check_event(name, "y", y, self.out_shape)
        condition = check_condition(name, condition, self.cond_shape)
        return self._inverse_and_log_det(y, condition)

    def forward(self, x: ArrayLike, condition: ArrayLike | None = None) -> Float[Array, "..."]:
        """Forward map of one event (the log-determinant is dropped)."""
        return self.forward_and_log_det(x, condition)[0]

    def inverse(self, y: ArrayLike, condition: ArrayLike | None = None) -> Float[Array, "..."]:
        """Inverse map of one event (the log-determinant is dropped)."""
        return self.inverse_and_log_det(y, condition)[0]
