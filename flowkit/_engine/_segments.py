"""A bijector, flattened into the segments that invertible backprop walks (issue 11).

A *segment* is ``blocks x steps`` applications of one *step*: a tuple of layers applied
in turn, each in its own direction, whose array leaves carry leading ``(blocks, steps)``
axes (a segment of one unstacked layer has no such axes). A :class:`Stack` becomes one
segment (its layers stay stacked: one scan, whatever the depth); every other composite
(:class:`flowkit.AbstractComposite`: Chain, Invert, MultiScale, ...) dissolves into its
pieces; any other layer is a segment of one step of one layer.

The value flowing from layer to layer is an array, or a tuple when a multi-scale model has
set channels aside (see :class:`OnFirst`).
"""

import abc
import functools
from typing import Any, NamedTuple, cast

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array
from ..bijectors._base import AbstractBijector
from ..bijectors._batch_norm import BATCH_AXIS
from ..bijectors._composite import (
    FORWARD,
    INVERSE,
    AbstractComposite,
    AbstractPlumbing,
    Child,
    Scan,
    call_layer,
    iter_pieces,
    opposite,
)

__all__ = ["FORWARD", "INVERSE", "opposite"]


class Flat(NamedTuple):
    """One piece of a flattened bijector: ``(layer, method)`` pairs run as a step,
    ``num_steps`` times (None: an unstacked layer), scanning the layer axis backwards when
    ``reverse`` (a Stack's inverse runs its last layer first)."""

    step: tuple[tuple[object, str], ...]
    num_steps: int | None
    reverse: bool


class SegmentSpec(NamedTuple):
    """Static description of one segment (see the module docstring)."""

    methods: tuple[str, ...]  # per layer of a step: the direction it is applied in
    blocks: int
    steps: int
    store: tuple[bool, ...]  # per layer of a step: store its input (no cheap exact inverse)
    anchored: bool  # store the input of every block (re-anchoring)
    stacked: bool  # from a Stack: leaves carry (blocks, steps) axes; else one plain step
    reverse: bool  # scan the layer axes backwards


def flatten_layers(bijector, method: str) -> list[Flat]:
    """``bijector`` applied in direction ``method``, as pieces in the order they run.

    A composite dissolves into its pieces (a :class:`Scan` stays one stacked piece);
    the pieces between a ``SplitChannels`` and its ``MergeChannels`` act on the active part
    of a tuple value, so they are wrapped in :class:`OnFirst`.
    """
    if not isinstance(bijector, AbstractComposite):
        return [Flat(((bijector, method),), None, False)]
    flats: list[Flat] = []
    depth = 0
    for piece, direction in iter_pieces(bijector, method):
        if isinstance(piece, AbstractPlumbing):
            change = piece.depth_change(direction)
            flats += _on_first([Flat(((piece, direction),), None, False)], depth + min(change, 0))
            depth += change
        elif isinstance(piece, Scan):
            step = _step_layers(piece.where(bijector), direction)
            flats += _on_first([Flat(step, piece.num_layers, direction == INVERSE)], depth)
        else:
            flats += _on_first(flatten_layers(piece.where(bijector), direction), depth)
    return flats


def _step_layers(layer, method) -> tuple[tuple[object, str], ...]:
    """The layers of one Stack step in the order they run (composites of plain children
    dissolved; the step's leaves carry the layer axis, so nothing may change shape)."""
    if isinstance(layer, AbstractComposite) and all(isinstance(p, Child) for p in layer.pieces()):
        return tuple(
            pair
            for piece, direction in iter_pieces(layer, method)
            for pair in _step_layers(cast(Child, piece).where(layer), direction)
        )
    return ((layer, method),)


def map_arrays(fn, module):
    """``module`` with ``fn`` applied to every array leaf."""
    arrays, static = eqx.partition(module, eqx.is_array)
    return eqx.combine(jax.tree_util.tree_map(fn, arrays), static)


def _cut(a, start: int, blocks: int, steps: int):
    """Rows ``start : start + blocks * steps`` of a stacked leaf as ``(blocks, steps, ...)``."""
    if start == 0 and blocks * steps == a.shape[0]:  # the whole stack: a reshape, no copy
        return a.reshape((blocks, steps) + a.shape[1:])
    return a[start : start + blocks * steps].reshape((blocks, steps) + a.shape[1:])


def segments(
    bijector: AbstractBijector, method: str, anchor_every: int | None = None
) -> tuple[list[SegmentSpec], list[tuple[object, ...]]]:
    """Split ``bijector`` (applied in direction ``method``) into segment specs and layers.

    With ``anchor_every=k`` a Stack of ``n`` layers becomes ``n // k`` anchored blocks of
    ``k`` layers (plus one anchored block of the remainder), and every ``k``-th unstacked
    layer is anchored: the inputs of anchored blocks are stored, so rebuilt inputs never
    drift through more than ``k`` layers.
    """
    specs, layers, unstacked = [], [], 0
    for piece in flatten_layers(bijector, method):
        step = tuple(layer for layer, _ in piece.step)
        methods = tuple(m for _, m in piece.step)
        store = tuple(not rebuildable(layer) for layer in step)
        num = piece.num_steps
        if num is None:
            anchored = anchor_every is not None and unstacked % anchor_every == 0
            unstacked += 1
            specs.append(SegmentSpec(methods, 1, 1, store, anchored, False, False))
            layers.append(step)  # unstacked: no layer axes (it may change the event shape)
            continue
        k = num if anchor_every is None else min(anchor_every, num)
        full, rest = divmod(num, k)
        chunks = [(0, full, k), (full * k, 1, rest)] if rest else [(0, full, k)]
        for start, blocks, steps in chunks[::-1] if piece.reverse else chunks:
            cut = functools.partial(_cut, start=start, blocks=blocks, steps=steps)
            anchored = anchor_every is not None
            spec = SegmentSpec(methods, blocks, steps, store, anchored, True, piece.reverse)
            specs.append(spec)
            layers.append(tuple(map_arrays(cut, m) for m in step))
    return specs, layers


class AbstractBatchLayer(eqx.Module):
    """A piece of a flattened model that works on a whole batch (e.g. :class:`OnFirst`).

    Subclasses give ``apply_batch(method, xs, cs) -> (ys, log_dets)`` for both directions;
    ``xs`` may be a tuple (see the module docstring).
    """

    @abc.abstractmethod
    def apply_batch(self, method: str, xs, cs: Array | None) -> tuple[Any, Array]:
        """``(ys, log_dets)`` for the batch ``xs``; ``log_dets`` has shape ``(n,)``."""


def apply_layer(layer, method: str, xs, cs: Array | None):
    """``layer.method`` on a batch ``xs`` (leading axis) with conditions ``cs`` (or None).

    Ordinary bijectors are vmapped per event over the named axis ``BATCH_AXIS``, as in
    :class:`flowkit.Flow`, so training-mode batch statistics see the batch.
    """
    if isinstance(layer, AbstractBatchLayer):
        return layer.apply_batch(method, xs, cs)
    if isinstance(layer, AbstractPlumbing):
        n = jax.tree_util.tree_leaves(xs)[0].shape[0]
        dtype = jax.tree_util.tree_leaves(xs)[0].dtype
        return layer.apply(method, xs), jnp.zeros((n,), dtype)
    return vmap_layer(layer, method, xs, cs)


def vmap_layer(layer: AbstractBijector, method: str, xs: Array, cs: Array | None):
    """``layer.method`` on each event of ``xs`` under ``jax.vmap`` over the named axis
    ``BATCH_AXIS`` (training-mode batch norm reads its statistics there)."""
    return jax.vmap(lambda x, c: call_layer(layer, method, x, c), axis_name=BATCH_AXIS)(xs, cs)


class OnFirst(AbstractBatchLayer):
    """Apply ``layer`` to the first entry of a tuple-valued batch, passing the rest along.

    Multi-scale models set channels aside at each scale; flattened, the value flowing
    between layers becomes ``(active, set_aside)`` and the inner scale's layers act on
    ``active`` only. (Plumbing that puts channels back acts on the tuple itself.)
    """

    layer: object

    def apply_batch(self, method, xs, cs):
        ys, log_det = apply_layer(self.layer, method, xs[0], cs)
        return (ys,) + tuple(xs[1:]), log_det


def rebuildable(layer) -> bool:
    """Whether invertible backprop may rebuild ``layer``'s input from its output: plumbing
    always; a bijector when it declares an exact inverse (:meth:`has_exact_inverse`, from
    its class); anything else never (its input is stored)."""
    if isinstance(layer, AbstractPlumbing):
        return True
    if isinstance(layer, OnFirst):
        return rebuildable(layer.layer)
    return isinstance(layer, AbstractBijector) and layer.has_exact_inverse()


def _on_first(pieces: list[Flat], depth: int) -> list[Flat]:
    """``pieces`` acting ``depth`` levels into a tuple value (see :class:`OnFirst`)."""
    for _ in range(depth):
        pieces = [
            Flat(tuple((OnFirst(layer), m) for layer, m in p.step), p.num_steps, p.reverse)
            for p in pieces
        ]
    return pieces
