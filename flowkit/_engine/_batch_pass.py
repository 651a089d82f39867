"""Run a bijector on a whole batch, layer by layer, so batch-aware layers see the batch.

Two layers need a batch rather than one event: :class:`ActNorm` (data-dependent
initialisation) and :class:`BatchNorm` (running statistics). :func:`batch_pass` walks a model
in the order data flows, through the pieces of every composite
(:class:`flowkit.AbstractComposite`: Chain, Invert, MultiScale, ...); the layers of a
scan :class:`Stack` that holds such layers run one after another (each stacked layer sees
the output of the one before, so each is initialised from its own input). Any other
bijector is applied with ``jax.vmap``; one that holds an ActNorm or BatchNorm inside
(other than through composites) raises.
"""

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array
from ..bijectors._actnorm import ActNorm
from ..bijectors._base import AbstractBijector
from ..bijectors._batch_norm import BATCH_AXIS, BatchNorm
from ..bijectors._composite import FORWARD, INVERSE, AbstractComposite, run_pieces
from ..bijectors._stack import Stack


@dataclass
class PassContext:
    """What a pass does at batch-aware layers (mutable: it carries the latest State)."""

    init_actnorm: bool = False
    state: eqx.nn.State | None = None


def holds_batch_layers(tree) -> bool:
    """Whether ``tree`` contains an ActNorm or BatchNorm anywhere."""
    is_batch_layer = lambda node: isinstance(node, ActNorm | BatchNorm)  # noqa: E731
    leaves = jax.tree_util.tree_leaves(tree, is_leaf=is_batch_layer)
    return any(is_batch_layer(leaf) for leaf in leaves)


def vmap_apply(bijector: AbstractBijector, x: Array, condition: Array | None, inverse: bool):
    """``bijector`` on each event of the batch ``x``: ``(y, log_det)`` with a batch axis."""
    method = getattr(bijector, "inverse_and_log_det" if inverse else "forward_and_log_det")
    if bijector.cond_shape is None or condition is None:
        return jax.vmap(lambda v: method(v), axis_name=BATCH_AXIS)(x)
    return jax.vmap(method, axis_name=BATCH_AXIS)(x, condition)


def batch_pass(bijector, x, condition, inverse: bool, ctx: PassContext, path: tuple[int, ...]):
    """``(new_bijector, y, log_det)`` for the batch ``x`` (leading axis) through ``bijector``.

    ``path`` holds the indices of the stacked layers being walked (for State updates).
    """
    if isinstance(bijector, AbstractComposite):
        return _composite(bijector, x, condition, inverse, ctx, path)
    if isinstance(bijector, ActNorm):
        if ctx.init_actnorm:
            bijector = bijector.initialised(x, inverse)
        return bijector, *vmap_apply(bijector, x, condition, inverse)
    if isinstance(bijector, BatchNorm):
        return _batch_norm(bijector, x, condition, inverse, ctx, path)
    if holds_batch_layers(bijector):
        raise TypeError(
            f"{type(bijector).__name__} holds an ActNorm or BatchNorm, but the batch pass "
            "(data_init, update_batch_norm_state) cannot see inside it. Build the model from "
            "composites (Chain, Stack, Invert, MultiScale or your own AbstractComposite)."
        )
    return bijector, *vmap_apply(bijector, x, condition, inverse)


def _composite(bijector: AbstractComposite, x, condition, inverse, ctx, path):
    """Each piece in turn; children (and stacked layers) replaced by what their pass gives."""
    updates: list = []

    def child(piece, layer, direction, xs):
        cond = condition if layer.cond_shape is not None else None
        new, ys, log_det = batch_pass(layer, xs, cond, direction == INVERSE, ctx, path)
        updates.append((piece.where, new))
        return ys, log_det

    def scan(piece, stacked, direction, xs):
        new, ys, log_det = _stacked(piece, stacked, xs, condition, direction, ctx, path)
        updates.append((piece.where, new))
        return ys, log_det

    y, log_det = run_pieces(bijector, INVERSE if inverse else FORWARD, x, child, scan)
    for where, new in updates:
        bijector = eqx.tree_at(where, bijector, new)
    return bijector, y, log_det


def _stacked(piece, stacked, x, condition, direction, ctx, path):
    """A Scan piece: one scan if nothing inside needs the batch, else layer by layer."""
    cond = condition if stacked.cond_shape is not None else None
    if not holds_batch_layers(stacked):
        tmp = Stack(stacked, piece.num_layers, unroll=piece.unroll)
        return stacked, *vmap_apply(tmp, x, cond, direction == INVERSE)
    n = piece.num_layers
    params, static = eqx.partition(stacked, eqx.is_array)
    layers: list = [None] * n
    log_det = jnp.zeros(x.shape[:1], x.dtype)
    for i in reversed(range(n)) if direction == INVERSE else range(n):
        layer = eqx.combine(jax.tree_util.tree_map(lambda a, i=i: a[i], params), static)
        layers[i], x, ld = batch_pass(layer, x, cond, direction == INVERSE, ctx, path + (i,))
        log_det = log_det + ld
    arrays = [eqx.filter(layer, eqx.is_array) for layer in layers]
    restacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *arrays)
    return eqx.combine(restacked, static), x, log_det


def _batch_norm(bijector: BatchNorm, x, condition, inverse, ctx, path):
    y, log_det = vmap_apply(bijector, x, condition, inverse)  # raises for a training inverse
    if not bijector.inference and ctx.state is not None:
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x, axis=axes)
        var = jnp.mean((x - mean) ** 2, axis=axes)
        ctx.state = _update_running(ctx.state, bijector, path, mean, var)
    return bijector, y, log_det


def _update_running(state: eqx.nn.State, layer: BatchNorm, path, mean, var) -> eqx.nn.State:
    """EMA of the running (mean, var) of ``layer`` (row ``path`` if it is stacked)."""
    try:
        old_mean, old_var = state.get(layer.state_index)
    except KeyError:
        raise ValueError(
            "update_batch_norm_state: the State has no entry for a BatchNorm of this model; "
            "build it from the same model: state = eqx.nn.State(model) (or make_with_state)."
        ) from None
    m = layer.momentum

    def ema(old, new):
        updated = m * old[path] + (1.0 - m) * new.astype(old.dtype)
        return old.at[path].set(updated) if path else updated

    return state.set(layer.state_index, (ema(old_mean, mean), ema(old_var, var)))
