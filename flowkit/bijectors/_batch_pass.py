"""Run a bijector on a whole batch, layer by layer, so batch-aware layers see the batch.

Two layers need a batch rather than one event: :class:`ActNorm` (data-dependent
initialisation) and :class:`BatchNorm` (running statistics). :func:`batch_pass` walks a model
in the order data flows: ``Chain`` layers in turn, ``Stack`` layers one after another (each
stacked layer sees the output of the one before, so each is initialised from its own
input), ``Invert`` with the direction flipped, and ``MultiScale`` through its transform and
inner scale. Any other bijector is applied with ``jax.vmap``; one that holds an ActNorm or
BatchNorm this walk cannot reach raises (register a handler for its type with
``batch_pass.register``).
"""

import functools
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array
from ._actnorm import ActNorm
from ._base import AbstractBijector
from ._batch_norm import BATCH_AXIS, BatchNorm
from ._chain import Chain
from ._invert import Invert
from ._multiscale import MultiScale
from ._stack import Stack


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


@functools.singledispatch
def batch_pass(bijector, x, condition, inverse: bool, ctx: PassContext, path: tuple[int, ...]):
    """``(new_bijector, y, log_det)`` for the batch ``x`` (leading axis) through ``bijector``.

    ``path`` holds the indices of the stacked layers being walked (for State updates).
    """
    if holds_batch_layers(bijector):
        raise TypeError(
            f"{type(bijector).__name__} holds an ActNorm or BatchNorm, but the batch pass "
            "(data_init, update_batch_norm_state) cannot see inside it. Register a handler "
            "with flowkit.bijectors._batch_pass.batch_pass.register, or build the model from "
            "Chain, Stack, Invert and MultiScale."
        )
    return bijector, *vmap_apply(bijector, x, condition, inverse)


@batch_pass.register
def _chain(bijector: Chain, x, condition, inverse, ctx, path):
    layers = list(bijector.layers)
    log_det = jnp.zeros(x.shape[:1], x.dtype)
    for i in reversed(range(len(layers))) if inverse else range(len(layers)):
        layers[i], x, ld = batch_pass(layers[i], x, condition, inverse, ctx, path)
        log_det = log_det + ld
    return eqx.tree_at(lambda c: c.layers, bijector, tuple(layers)), x, log_det


@batch_pass.register
def _stack(bijector: Stack, x, condition, inverse, ctx, path):
    if not holds_batch_layers(bijector):
        return bijector, *vmap_apply(bijector, x, condition, inverse)  # one scan, as usual
    n = bijector.num_layers
    layers: list = [None] * n
    log_det = jnp.zeros(x.shape[:1], x.dtype)
    for i in reversed(range(n)) if inverse else range(n):
        layers[i], x, ld = batch_pass(bijector.layer(i), x, condition, inverse, ctx, path + (i,))
        log_det = log_det + ld
    params = [eqx.filter(layer, eqx.is_array) for layer in layers]
    stacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *params)
    static = eqx.filter(bijector.layers, eqx.is_array, inverse=True)
    return eqx.tree_at(lambda s: s.layers, bijector, eqx.combine(stacked, static)), x, log_det


@batch_pass.register
def _invert(bijector: Invert, x, condition, inverse, ctx, path):
    inner, y, log_det = batch_pass(bijector.bijector, x, condition, not inverse, ctx, path)
    return eqx.tree_at(lambda b: b.bijector, bijector, inner), y, log_det


@batch_pass.register
def _multiscale(bijector: MultiScale, x, condition, inverse, ctx, path):
    n = x.shape[0]
    transform, inner = bijector.transform, bijector.inner
    if not inverse:
        transform, h, log_det = batch_pass(transform, x, condition, False, ctx, path)
        if inner is not None:
            kept, factored = bijector.split(h)
            inner, kept, ld = batch_pass(inner, kept, condition, False, ctx, path)
            h, log_det = jnp.concatenate([kept, factored], axis=-1), log_det + ld
        y = h.reshape((n,) + bijector.shape)
    else:
        h = x.reshape((n,) + bijector.hidden_shape)
        log_det = jnp.zeros((n,), x.dtype)
        if inner is not None:
            kept, factored = bijector.split(h)
            inner, kept, log_det = batch_pass(inner, kept, condition, True, ctx, path)
            h = jnp.concatenate([kept, factored], axis=-1)
        transform, y, ld = batch_pass(transform, h, condition, True, ctx, path)
        log_det = log_det + ld
    new = eqx.tree_at(lambda m: m.transform, bijector, transform)
    if inner is not None:
        new = eqx.tree_at(lambda m: m.inner, new, inner)
    return new, y, log_det


@batch_pass.register
def _actnorm(bijector: ActNorm, x, condition, inverse, ctx, path):
    if ctx.init_actnorm:
        bijector = bijector.initialised(x, inverse)
    return bijector, *vmap_apply(bijector, x, condition, inverse)


@batch_pass.register
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
