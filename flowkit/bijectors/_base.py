"""The bijector contract every flowkit layer follows."""

import abc
import functools
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._typing import Array, ArrayLike, Float, Scalar, Shape
from ._checks import check_condition, check_event, check_shape

_Map = Callable[..., tuple[Array, Array]]


def _validated(method: _Map, direction: str) -> _Map:
    """``method`` (a subclass's forward or inverse map) behind the input checks of its
    direction: the event has the shape the map takes (``shape`` forward, ``out_shape``
    inverse) and a float32/float64 dtype, and the condition matches ``cond_shape``."""
    arg = "x" if direction == "forward_and_log_det" else "y"

    # Not __annotations__: the wrapper's parameters are its own, whatever the map declares.
    @functools.wraps(method, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
    def checked(self, value, condition=None):
        owner = f"{type(self).__name__}.{direction}"
        event = self.shape if arg == "x" else self.out_shape
        value = check_event(owner, arg, value, event)
        condition = check_condition(owner, condition, self.cond_shape)
        return method(self, value, condition)

    checked.__validated__ = True  # type: ignore[attr-defined]
    return checked


def _as_array(condition: ArrayLike | None) -> Array | None:
    return None if condition is None else jnp.asarray(condition)


class AbstractBijector(eqx.Module):
    """An invertible map of one event of shape ``shape`` with a tractable log-determinant.

    Single-event semantics: ``x`` has exactly ``shape`` and the log-determinant is a scalar.
    Batches go through ``jax.vmap`` (or :class:`flowkit.Flow`, which vmaps for you).

    A subclass gives:
        shape: the event shape the forward map takes, a tuple of ints (a static field).
        cond_shape: the shape of the condition, or None when unconditional.
        forward_and_log_det(x, condition=None): ``(y, log|det dy/dx|)`` for one event.
        inverse_and_log_det(y, condition=None): ``(x, log|det dx/dy|)``, its inverse.
        out_shape (only if the map changes the shape): the event shape it returns (and the
            inverse takes), as a property, e.g. ``(H/2, W/2, 4C)`` for a squeeze. It
            defaults to ``shape``.
        exact_inverse (optional): a class attribute, True when both directions are one pass
            and exact in closed form, so invertible backprop may rebuild the layer's input
            from its output (see :meth:`has_exact_inverse`). It defaults to False.

    The two maps a subclass defines are wrapped when the class is created: every call
    first checks the event's shape and dtype and the condition (``"Expected x of shape
    ..."`` errors), so the maps themselves receive a validated array event and a condition
    of ``cond_shape`` (None when unconditional). A bijector made of other bijectors may
    derive from :class:`flowkit.AbstractComposite` instead, which gives both maps from
    its pieces (docs/bijectors.md says what that adds).
    """

    shape: eqx.AbstractVar[Shape]
    cond_shape: eqx.AbstractVar[Shape | None]
    exact_inverse: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for direction in ("forward_and_log_det", "inverse_and_log_det"):
            method = cls.__dict__.get(direction)
            if method is None or getattr(method, "__isabstractmethod__", False):
                continue
            if not getattr(method, "__validated__", False):
                setattr(cls, direction, _validated(method, direction))

    def __check_init__(self):
        owner = type(self).__name__
        check_shape(owner, "shape", self.shape)
        check_shape(owner, "out_shape", self.out_shape)
        if self.cond_shape is not None:
            check_shape(owner, "cond_shape", self.cond_shape)

    @property
    def out_shape(self) -> Shape:
        """The event shape the forward map returns: ``shape`` unless a subclass says."""
        return self.shape

    @abc.abstractmethod
    def forward_and_log_det(
        self, x: Float[Array, "..."], condition: Array | None = None
    ) -> tuple[Float[Array, "..."], Scalar]:
        """Map one event forward.

        Args:
            x: one event of shape ``shape`` (float32 or float64; any array-like is
                converted before a subclass's map sees it).
            condition: shape ``cond_shape``, or None for an unconditional bijector.

        Returns:
            ``(y, log_det)``: ``y`` of shape ``out_shape`` and the scalar ``log|det dy/dx|``.

        Raises:
            ValueError: ``x`` or ``condition`` does not have the shape above.
            TypeError: ``x`` is not float32/float64.
        """

    @abc.abstractmethod
    def inverse_and_log_det(
        self, y: Float[Array, "..."], condition: Array | None = None
    ) -> tuple[Float[Array, "..."], Scalar]:
        """Map one event back.

        Args:
            y: one event of shape ``out_shape`` (float32 or float64; any array-like is
                converted before a subclass's map sees it).
            condition: shape ``cond_shape``, or None for an unconditional bijector.

        Returns:
            ``(x, log_det)``: ``x`` of shape ``shape`` and the scalar ``log|det dx/dy|``.

        Raises:
            ValueError: ``y`` or ``condition`` does not have the shape above.
            TypeError: ``y`` is not float32/float64.
        """

    def has_exact_inverse(self) -> bool:
        """Whether invertible backprop may rebuild this layer's input from its output.

        The class attribute ``exact_inverse`` by default; a wrapper whose answer depends
        on what it holds (a coupling and its transformer) overrides this method.

        Returns:
            True when both directions are one pass and exact in closed form.
        """
        return self.exact_inverse

    def forward(self, x: ArrayLike, condition: ArrayLike | None = None) -> Float[Array, "..."]:
        """Forward map of one event, log-det dropped.

        Args:
            x: one event, shape ``shape``.
            condition: shape ``cond_shape``, or None for an unconditional bijector.

        Returns:
            ``y``, shape ``out_shape``.

        Raises:
            ValueError: ``x`` or ``condition`` does not have the shape above.
            TypeError: ``x`` is not float32/float64.
        """
        return self.forward_and_log_det(jnp.asarray(x), _as_array(condition))[0]

    def inverse(self, y: ArrayLike, condition: ArrayLike | None = None) -> Float[Array, "..."]:
        """Inverse map of one event, log-det dropped.

        Args:
            y: one event, shape ``out_shape``.
            condition: shape ``cond_shape``, or None for an unconditional bijector.

        Returns:
            ``x``, shape ``shape``.

        Raises:
            ValueError: ``y`` or ``condition`` does not have the shape above.
            TypeError: ``y`` is not float32/float64.
        """
        return self.inverse_and_log_det(jnp.asarray(y), _as_array(condition))[0]
