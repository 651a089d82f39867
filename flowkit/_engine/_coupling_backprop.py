"""Invertible backprop through a coupling layer with one conditioner pass (issue 11).

The generic backward step rebuilds a layer's input with its inverse, then takes the VJP of
the forward map at that input: a coupling's conditioner then runs twice (once in the
inverse, once in the VJP's forward) before its backward pass. But a coupling leaves its
kept entries unchanged, so they are read off the *output*, the conditioner runs once, under
``jax.vjp``, and its parameters serve both the rebuild (the transformer's opposite
direction) and the transformer's VJP. The backward pass then costs about what
rematerialisation costs: one extra conditioner evaluation per layer.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from ..bijectors._coupling import Coupling, _take
from ._segments import OnFirst, opposite


def has_coupling_backward(layer) -> bool:
    """True for a :class:`Coupling` (also inside a multi-scale :class:`OnFirst`)."""
    return isinstance(_unwrap(layer), Coupling)


def _unwrap(layer):
    return layer.layer if isinstance(layer, OnFirst) else layer


def coupling_backward(diff, nondiff, static, method: str, out, cs, g_out, g_ld):
    """Rebuild a coupling's input batch from its output and take its VJP, in one go.

    The layer is ``eqx.combine(diff, nondiff, static)``, applied in direction ``method``,
    with output batch ``out`` (a tuple under :class:`OnFirst`), conditions ``cs`` and
    cotangents ``g_out`` (output) and ``g_ld`` (per-example log-det). Returns ``(input,
    g_diff, g_input, g_cs)``; ``g_diff`` sums the batch.
    """
    on_first = isinstance(eqx.combine(diff, nondiff, static), OnFirst)
    y, g_y = (out[0], g_out[0]) if on_first else (out, g_out)

    def coupling(d) -> Coupling:
        layer = _unwrap(eqx.combine(d, nondiff, static))
        assert isinstance(layer, Coupling)
        return layer

    layer, n = coupling(diff), y.shape[0]
    given = cs
    if layer.cond_shape is None:  # an unconditional layer in a conditional flow
        cs = None

    def take(a, idx):
        return jax.vmap(lambda row: _take(row, idx))(a.reshape(n, -1))

    kept, moved_out = take(y, layer.cond_idx), take(y, layer.trans_idx)

    def conditioner(d, kept, cs):
        c = coupling(d)

        def one(k, cond):
            cond = None if cond is None else cond.reshape(-1)
            return c.conditioner(k, cond).reshape(len(c.trans_idx), -1)

        return jax.vmap(one)(kept, cs)

    def transform(d, moved, params):
        t = coupling(d).transformer
        moved, log_deriv = jax.vmap(getattr(t, method))(moved, params)
        return moved, jnp.sum(log_deriv.reshape(n, -1), axis=1)

    params, conditioner_vjp = jax.vjp(conditioner, diff, kept, cs)
    undo = getattr(layer.transformer, opposite(method))
    moved_in = jax.vmap(lambda m, p: undo(m, p)[0])(moved_out, params)
    _, transform_vjp = jax.vjp(transform, diff, moved_in, params)
    g_moved_out = take(g_y, layer.trans_idx)
    g_diff, g_moved_in, g_params = transform_vjp((g_moved_out, g_ld))
    g_diff_cond, g_kept, g_cs = conditioner_vjp(g_params)
    g_diff = jax.tree_util.tree_map(jnp.add, g_diff, g_diff_cond)
    merge = jax.vmap(layer._merge)
    x_in = merge(kept, moved_in)
    g_x = merge(take(g_y, layer.cond_idx) + g_kept, g_moved_in)
    if on_first:
        x_in, g_x = (x_in,) + tuple(out[1:]), (g_x,) + tuple(g_out[1:])
    if g_cs is None and given is not None:
        g_cs = jnp.zeros_like(given)
    return x_in, g_diff, g_x, g_cs
