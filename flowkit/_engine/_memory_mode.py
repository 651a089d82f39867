"""One switch for how a bijector is differentiated: standard, remat or invertible backprop,
and the batch entry point a Flow calls."""

import equinox as eqx
import jax.numpy as jnp

from .._typing import Array, ArrayLike, Float, Shape
from ..bijectors._base import AbstractBijector
from ..bijectors._composite import AbstractComposite, Child
from ..bijectors._coupling import Coupling
from ._invertible_backprop import invertible_apply, remat_apply
from ._modes import MemoryModeName, check_memory_mode
from ._segments import FORWARD, INVERSE, apply_layer, segments, vmap_layer


class MemoryMode(AbstractComposite):
    """``bijector`` with the same maps and gradients, differentiated in a chosen way.

    Args:
        bijector: the bijector to differentiate another way (a MemoryMode's mode is
            replaced).
        memory: ``"standard"``: ordinary autodiff (stores every layer's activations).
            ``"remat"``: each layer (or Stack step) under ``jax.checkpoint``: stores one
            input per layer, recomputes the insides in the backward pass.
            ``"invertible"``: keeps only the output; the backward pass rebuilds each
            layer's input from its output with the layer's inverse, from the top, and
            takes that layer's VJP. Layers whose class does not declare an exact inverse
            (``exact_inverse = True``, or ``has_exact_inverse()``) store their input
            instead.
        anchor_every: ``k`` also stores every k-th layer's input in invertible mode, so
            float32 drift cannot build up over more than k layers.

    Raises:
        ValueError: ``memory`` or ``anchor_every`` is not one of the choices above.

    Memory is saved over a whole batch: :class:`flowkit.Flow` hands its batch to
    :func:`apply_to_batch`. Called on one event (or under a user's ``jax.vmap``) the wrapper
    still gives correct gradients, but per-example parameter cotangents are then formed,
    so use a Flow (or :func:`apply_to_batch`) for training. As a composite of its one
    child, data-dependent initialisation and invertible backprop see through it.
    """

    bijector: AbstractBijector
    memory: MemoryModeName = eqx.field(static=True)
    anchor_every: int | None = eqx.field(static=True)
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(
        self,
        bijector: AbstractBijector,
        memory: MemoryModeName = "invertible",
        *,
        anchor_every: int | None = None,
    ):
        check_memory_mode("MemoryMode", memory, anchor_every)
        if isinstance(bijector, MemoryMode):  # re-wrapping replaces the mode
            bijector = bijector.bijector
        self.bijector = bijector
        self.memory = memory
        self.anchor_every = anchor_every
        self.shape = tuple(bijector.shape)
        self.cond_shape = bijector.cond_shape

    @property
    def out_shape(self) -> Shape:
        """The wrapped bijector's output shape."""
        return tuple(self.bijector.out_shape)

    def apply_batch(
        self, method: str, xs: ArrayLike, conditions: ArrayLike | None
    ) -> tuple[Float[Array, "n ..."], Float[Array, " n"]]:
        """``method`` (``"forward_and_log_det"`` or ``"inverse_and_log_det"``) on a batch.

        ``xs`` has shape ``(n, *event)``, ``conditions`` ``(n, *cond_shape)`` or None.
        """
        xs, conditions = _check_batch(self, method, xs, conditions)
        if self.memory == "invertible":
            return invertible_apply(self.bijector, method, xs, conditions, self.anchor_every)
        if self.memory == "remat":
            return remat_apply(self.bijector, method, xs, conditions)
        return apply_layer(self.bijector, method, xs, conditions)

    def pieces(self):
        return (Child(lambda m: m.bijector),)

    def _one(self, method, x, condition):
        ys, log_det = self.apply_batch(
            method, x[None], None if condition is None else condition[None]
        )
        return ys[0], log_det[0]

    def forward_and_log_det(self, x, condition):
        return self._one(FORWARD, x, condition)

    def inverse_and_log_det(self, y, condition):
        return self._one(INVERSE, y, condition)


def _check_batch(bijector: MemoryMode, method: str, xs, conditions):
    owner = f"MemoryMode.apply_batch({method!r})"
    if method not in (FORWARD, INVERSE):
        raise ValueError(f"{owner}: method must be {FORWARD!r} or {INVERSE!r}.")
    xs = jnp.asarray(xs)
    event = bijector.shape if method == FORWARD else bijector.out_shape
    if not jnp.issubdtype(xs.dtype, jnp.floating) or tuple(xs.shape[1:]) != tuple(event):
        raise ValueError(
            f"{owner}: expected a floating-point batch of shape (n, {', '.join(map(str, event))})"
            f"; got {xs.dtype} of shape {xs.shape}."
        )
    if (conditions is None) != (bijector.cond_shape is None):
        raise ValueError(
            f"{owner}: conditions must be None exactly when the bijector is unconditional "
            f"(cond_shape={bijector.cond_shape})."
        )
    if conditions is not None:
        conditions = jnp.asarray(conditions)
        assert bijector.cond_shape is not None
        want = (xs.shape[0],) + tuple(bijector.cond_shape)
        if tuple(conditions.shape) != want:
            raise ValueError(
                f"{owner}: expected conditions of shape {want}; got {conditions.shape}."
            )
    return xs, conditions


def apply_to_batch(
    bijector: AbstractBijector, method: str, xs: Array, conditions: Array | None
) -> tuple[Float[Array, "n ..."], Float[Array, " n"]]:
    """``bijector.method`` on every event of the batch ``xs`` (leading axis).

    A :class:`MemoryMode` gets the whole batch, which its backward pass needs to sum
    parameter cotangents once per layer; any other bijector is ``jax.vmap``-ed per event
    (over the named batch axis that training-mode batch norm reads), nothing more.

    Args:
        bijector: any bijector.
        method: ``"forward_and_log_det"`` or ``"inverse_and_log_det"``.
        xs: the batch, shape ``(n, *event)``.
        conditions: shape ``(n, *cond_shape)``, or None.

    Returns:
        ``(ys, log_dets)`` of shapes ``(n, *out_event)`` and ``(n,)``.
    """
    if isinstance(bijector, MemoryMode):
        return bijector.apply_batch(method, xs, conditions)
    return vmap_layer(bijector, method, xs, conditions)


def backprop_plan(
    bijector: AbstractBijector, method: str = INVERSE, anchor_every: int | None = None
) -> list[tuple[str, str]]:
    """How invertible backprop treats each layer, in the order the layers are applied.

    One ``(layer type name, strategy)`` per layer of each segment (a Stack's layers are
    listed once per step structure, suffixed ``" x n"``); strategy is ``"invert"`` (input
    rebuilt with the inverse) or ``"remat"`` (input stored, insides recomputed).

    Args:
        bijector: any bijector (a :class:`MemoryMode` is looked through).
        method: the direction it is applied in (the density direction of a Flow is the
            inverse).
        anchor_every: as :class:`MemoryMode`.

    Returns:
        The ``(name, strategy)`` pairs; a coupling is named by its transformer, e.g.
        ``"Coupling[AffineTransformer] x 8"``.
    """
    if isinstance(bijector, MemoryMode):
        bijector = bijector.bijector
    specs, layers = segments(bijector, method, anchor_every)
    plan = []
    for spec, step in zip(specs, layers, strict=True):
        count = f" x {spec.blocks * spec.steps}" if spec.stacked else ""
        for layer, store in zip(step, spec.store, strict=True):
            plan.append((_name(layer) + count, "remat" if store else "invert"))
    return plan


def _name(layer) -> str:
    inner = getattr(layer, "layer", None)  # OnFirst: name the layer it wraps
    if inner is not None:
        return _name(inner)
    if isinstance(layer, Coupling):  # couplings differ by their transformer
        return f"Coupling[{type(layer.transformer).__name__}]"
    return type(layer).__name__
