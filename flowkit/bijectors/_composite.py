"""Bijectors made of other bijectors: one structure that every walker of a model reads.

A composite (:class:`Chain`, :class:`Stack`, :class:`Invert`, :class:`MultiScale`,
:class:`MemoryMode`, or your own) describes its forward map as a sequence of *pieces*:

* :class:`Child` -- apply a sub-bijector (``where(composite)``), in the same direction or,
  with ``inverted=True``, the opposite one;
* :class:`Scan` -- apply stacked layers (every array leaf with a leading layer axis) one after
  another with ``jax.lax.scan``;
* plumbing with log-determinant 0 that moves entries about: :class:`SplitChannels` sets the
  last channels aside (multi-scale factor-out), :class:`MergeChannels` puts them back, and
  :class:`Reshape` changes the event shape.

Its inverse runs the pieces in reverse order, each inverted. From that one description come
the composite's own maps, the batch pass of data-dependent initialisation and batch-norm
statistics and the segments of invertible backpropagation (both in ``flowkit/_engine``),
and whether an exact inverse exists (:meth:`AbstractComposite.has_exact_inverse`); a new
composite is one class with a ``pieces`` method (docs/bijectors.md).

While channels are set aside the value flowing between pieces is a tuple
``(active, set_aside)`` (nested at each level); children and reshapes act on the innermost
active array. Plumbing acts on trailing axes, so it serves one event and a batch alike.
"""

import abc
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array, Shape
from ._base import AbstractBijector

FORWARD = "forward_and_log_det"
INVERSE = "inverse_and_log_det"


def opposite(method: str) -> str:
    """The other direction: ``inverse_and_log_det`` for ``forward_and_log_det`` and back."""
    return INVERSE if method == FORWARD else FORWARD


@dataclasses.dataclass(frozen=True)
class Child:
    """Apply a sub-bijector of the composite, in its direction or the opposite one.

    Args:
        where: picks the sub-bijector from the composite (a field or an element of one, as
            for ``eqx.tree_at``), e.g. ``lambda c: c.layers[0]``.
        inverted: apply the sub-bijector in the opposite direction to the composite's.
    """

    where: Callable[[Any], AbstractBijector]
    inverted: bool = False


@dataclasses.dataclass(frozen=True)
class Scan:
    """Apply stacked layers of the composite one after another with ``jax.lax.scan``.

    Args:
        where: picks the stacked layers from the composite, a bijector whose array leaves
            carry a leading layer axis of length ``num_layers``.
        num_layers: how many layers are stacked.
        unroll: ``jax.lax.scan``'s layers per loop iteration (``True``: fully, no loop).
    """

    where: Callable[[Any], AbstractBijector]
    num_layers: int
    unroll: int | bool = 1


class AbstractPlumbing(eqx.Module):
    """A piece that moves entries without changing them: log-determinant 0.

    ``apply(method, value)`` acts on the trailing (event) axes, so ``value`` may carry
    leading batch axes. ``depth_change(method)`` is +1 when it sets entries aside, -1 when
    it puts them back, 0 otherwise.
    """

    @abc.abstractmethod
    def apply(self, method: str, value: Any) -> Any:
        """The value after this piece, in direction ``method``."""

    def depth_change(self, method: str) -> int:
        del method
        return 0


class SplitChannels(AbstractPlumbing):
    """Forward: ``h -> (h[..., :num_kept], h[..., num_kept:])``; inverse: concatenate back.

    Args:
        num_kept: how many leading channels (last axis) stay active; the rest are set aside.
    """

    num_kept: int = eqx.field(static=True)

    def apply(self, method, value):
        if method == FORWARD:
            return value[..., : self.num_kept], value[..., self.num_kept :]
        kept, aside = value
        return jnp.concatenate([kept, aside], axis=-1)

    def depth_change(self, method):
        return 1 if method == FORWARD else -1


class MergeChannels(AbstractPlumbing):
    """The inverse of :class:`SplitChannels`: forward concatenates, inverse splits.

    Args:
        num_kept: how many leading channels (last axis) the active part holds.
    """

    num_kept: int = eqx.field(static=True)

    def apply(self, method, value):
        return SplitChannels(self.num_kept).apply(opposite(method), value)

    def depth_change(self, method):
        return -SplitChannels(self.num_kept).depth_change(method)


class Reshape(AbstractPlumbing):
    """Forward: each event from ``in_shape`` to ``out_shape``; inverse: back.

    Args:
        in_shape: the event shape before the piece (forward).
        out_shape: the event shape after it, with as many entries as ``in_shape``.
    """

    in_shape: Shape = eqx.field(static=True)
    out_shape: Shape = eqx.field(static=True)

    def apply(self, method, value):
        source, target = (
            (self.in_shape, self.out_shape)
            if method == FORWARD
            else (self.out_shape, self.in_shape)
        )
        return value.reshape(value.shape[: value.ndim - len(source)] + tuple(target))


Piece = Child | Scan | AbstractPlumbing


class AbstractComposite(AbstractBijector):
    """A bijector made of other bijectors, described by :meth:`pieces` (see the module
    docstring). Subclasses give ``pieces`` and the shape fields (``shape``, ``cond_shape``,
    and ``out_shape`` when the shape changes); the maps come from here.

    Compared with a bijector whose maps call its children directly, the pieces let the
    engine see inside: :func:`flowkit.data_init` initialises the ActNorm layers among the
    children (and :func:`flowkit.flows.advance_batch_norm` updates BatchNorm statistics),
    invertible backprop rebuilds each child's input in turn instead of storing the
    composite's, and :meth:`has_exact_inverse` is derived from the children.
    """

    @abc.abstractmethod
    def pieces(self) -> tuple[Piece, ...]:
        """The forward map as pieces applied in order; the inverse runs them reversed.

        Returns:
            :class:`Child`, :class:`Scan` and plumbing pieces, in forward order.
        """

    def forward_and_log_det(self, x, condition=None):
        return run_pieces(self, FORWARD, x, *event_appliers(condition))

    def inverse_and_log_det(self, y, condition=None):
        return run_pieces(self, INVERSE, y, *event_appliers(condition))

    def has_exact_inverse(self) -> bool:
        """Exact when every child is (plumbing always is)."""
        return all(child.has_exact_inverse() for child in children(self))


def iter_pieces(composite: AbstractComposite, method: str) -> Iterator[tuple[Piece, str]]:
    """``(piece, direction)`` in the order they run when ``composite`` is applied ``method``.

    For a :class:`Child` the direction is the one the child itself is applied in.
    """
    pieces = composite.pieces()
    for piece in pieces if method == FORWARD else pieces[::-1]:
        inverted = isinstance(piece, Child) and piece.inverted
        yield piece, opposite(method) if inverted else method


def children(composite: AbstractComposite) -> list[AbstractBijector]:
    """The sub-bijectors of ``composite`` (stacked ones as they are stored)."""
    return [p.where(composite) for p in composite.pieces() if isinstance(p, Child | Scan)]


def on_active(value, depth: int, fn: Callable):
    """``fn`` applied to the active array ``depth`` levels into ``value``; returns
    ``(new_value, *rest)`` where ``fn`` returns ``(new_active, *rest)``."""
    if depth == 0:
        return fn(value)
    out = on_active(value[0], depth - 1, fn)
    return ((out[0],) + tuple(value[1:]),) + tuple(out[1:])


Applier = Callable[[Any, AbstractBijector, str, Array], tuple[Array, Array]]


def run_pieces(
    composite: AbstractComposite,
    method: str,
    x: Array,
    apply_child: Applier,
    apply_scan: Applier,
) -> tuple[Array, Array]:
    """``composite`` applied ``method`` to ``x`` (one event, or a batch when the appliers
    take batches): ``(y, log_det)``.

    ``apply_child(piece, child, direction, active)`` and ``apply_scan(piece, stacked,
    direction, active)`` return ``(new_active, log_det)``; plumbing runs here.
    """
    batch = x.shape[: x.ndim - len(composite.shape if method == FORWARD else composite.out_shape)]
    log_det = jnp.zeros(batch, x.dtype)
    value: Any = x
    depth = 0
    for piece, direction in iter_pieces(composite, method):
        if isinstance(piece, AbstractPlumbing):
            change = piece.depth_change(direction)
            at = depth - 1 if change < 0 else depth
            (value,) = on_active(value, at, lambda v, p=piece, d=direction: (p.apply(d, v),))
            depth += change
            continue
        apply = apply_child if isinstance(piece, Child) else apply_scan
        target = piece.where(composite)
        value, ld = on_active(
            value, depth, lambda v, f=apply, p=piece, t=target, d=direction: f(p, t, d, v)
        )
        log_det = log_det + ld
    if depth != 0:
        raise ValueError(
            f"{type(composite).__name__}.pieces: every SplitChannels needs a MergeChannels "
            f"after it; {depth} set-aside part(s) were never put back."
        )
    return value, log_det


def call_layer(layer: AbstractBijector, method: str, x: Array, condition: Array | None):
    """Call ``layer.method`` passing the condition only to conditional layers."""
    cond = condition if layer.cond_shape is not None else None
    return getattr(layer, method)(x, cond)


def scan_layers(
    stacked: AbstractBijector,
    num_layers: int,
    method: str,
    x: Array,
    condition: Array | None,
    unroll: int | bool = 1,
) -> tuple[Array, Array]:
    """``num_layers`` stacked layers applied to one event in turn (the inverse last first)."""
    params, static = eqx.partition(stacked, eqx.is_array)

    def step(carry, layer_params):
        z, log_det = carry
        z, ld = call_layer(eqx.combine(layer_params, static), method, z, condition)
        return (z, log_det + ld), None

    init = (x, jnp.zeros((), x.dtype))
    (z, log_det), _ = jax.lax.scan(
        step, init, params, length=num_layers, reverse=method == INVERSE, unroll=unroll
    )
    return z, log_det


def event_appliers(condition: Array | None) -> tuple[Applier, Applier]:
    """The appliers that evaluate a composite on one event with ``condition``."""

    def child(piece, layer, direction, x):
        return call_layer(layer, direction, x, condition)

    def scan(piece, stacked, direction, x):
        return scan_layers(stacked, piece.num_layers, direction, x, condition, piece.unroll)

    return child, scan


def common_cond_shape(layers) -> Shape | None:
    """The one condition shape shared by the conditional layers (None if there are none)."""
    shapes = {layer.cond_shape for layer in layers if layer.cond_shape is not None}
    if len(shapes) > 1:
        raise ValueError(
            f"All conditional layers must take the same condition shape; got {sorted(shapes)}."
        )
    return shapes.pop() if shapes else None
