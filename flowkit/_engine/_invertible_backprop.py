"""Backprop through a chain or scan-stack of bijectors in memory that does not grow with
depth: invertible and rematerialised modes (issue 11).

The bijector is flattened into segments (``_segments.py``) in the order its layers run.

Invertible mode (:func:`invertible_apply`, one ``jax.custom_vjp`` over a whole batch):

* forward: run every layer and keep nothing but the output, except the input of each layer
  that does not declare an exact inverse (``has_exact_inverse()``) and, with re-anchoring, the
  input of every block;
* backward: from the top, layer by layer, rebuild the layer's input from its output with the
  opposite direction (or take the stored input), then take that layer's VJP with respect to
  its floating-point leaves, its input and the condition (the log-det cotangent included).
  Each segment's backward is a reverse ``lax.scan``, so compile time stays flat in depth.

Parameter cotangents are summed over the batch inside each layer's VJP, which is why the
custom VJP is taken over the batch, not per event: under ``jax.vmap`` a per-event rule would
form one parameter cotangent per example and layer.

Remat mode (:func:`remat_apply`) runs the same segments under ordinary autodiff with each
step in ``jax.checkpoint``: every step's input is stored, nothing inside it.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array
from ..bijectors._base import AbstractBijector
from ._coupling_backprop import coupling_backward, has_coupling_backward
from ._segments import SegmentSpec, apply_layer, opposite, segments


def _forward_segment(spec: SegmentSpec, layers, xs, cs, log_det, *, save: bool, remat: bool):
    """Run one segment; with ``save``, also return what its backward pass needs."""
    arrays, static = eqx.partition(layers, eqx.is_array)
    xs_in = xs

    def step(carry, step_arrays):
        x, ld = carry
        saved = []
        step_layers = eqx.combine(step_arrays, static)
        for layer, method, store in zip(step_layers, spec.methods, spec.store, strict=True):
            if save and store:
                saved.append(x)
            x, layer_ld = apply_layer(layer, method, x, cs)
            ld = ld + layer_ld
        return (x, ld), tuple(saved)

    if remat:
        step = jax.checkpoint(step, prevent_cse=False)
    if not spec.stacked:  # one layer, run as it is (it may change the event shape)
        (xs, log_det), saved = step((xs, log_det), arrays)
        return xs, log_det, (xs_in if save and spec.anchored else None, saved)

    def block(carry, block_arrays):
        anchor = carry[0] if save and spec.anchored else None
        carry, saved = jax.lax.scan(
            step, carry, block_arrays, length=spec.steps, reverse=spec.reverse
        )
        return carry, (anchor, saved)

    (xs, log_det), residuals = jax.lax.scan(
        block, (xs, log_det), arrays, length=spec.blocks, reverse=spec.reverse
    )
    return xs, log_det, residuals


def _run(specs, layers, xs, cs, *, save: bool = False, remat: bool = False):
    log_det = jnp.zeros(xs.shape[:1], xs.dtype)
    residuals = []
    for spec, seg_layers in zip(specs, layers, strict=True):
        xs, log_det, res = _forward_segment(
            spec, seg_layers, xs, cs, log_det, save=save, remat=remat
        )
        residuals.append(res)
    return xs, log_det, residuals


def remat_apply(bijector: AbstractBijector, method: str, xs: Array, cs: Array | None):
    """``bijector.method`` on a batch, each Stack step (or other layer) in ``jax.checkpoint``."""
    specs, layers = segments(bijector, method)
    xs, log_det, _ = _run(specs, layers, xs, cs, remat=True)
    return xs, log_det


def _backward_step(spec: SegmentSpec, static, cs, g_ld, carry, inputs, anchor):
    """Reverse one step: rebuild (or take) each layer's input, then that layer's VJP."""
    x, g_x, g_c = carry
    (diff, nondiff), saved, is_first = inputs
    saved = list(saved)
    grads: list = [None] * len(spec.store)
    for j in reversed(range(len(spec.store))):
        method = spec.methods[j]
        if spec.store[j]:
            x_in = saved.pop()
        elif (anchor is None or j != 0) and has_coupling_backward(
            eqx.combine(diff[j], nondiff[j], static[j])
        ):  # rebuild and VJP sharing one conditioner pass
            x, grads[j], g_x, g_cj = coupling_backward(
                diff[j], nondiff[j], static[j], method, x, cs, g_x, g_ld
            )
            g_c = None if g_c is None else g_c + g_cj
            continue
        else:  # a cheap exact inverse: rebuild the input from the output
            layer = eqx.combine(diff[j], nondiff[j], static[j])
            x_in = apply_layer(layer, opposite(method), x, cs)[0]
        if anchor is not None and j == 0:  # the first step of an anchored block: exact input
            x_in = jax.tree_util.tree_map(lambda a, b: jnp.where(is_first, a, b), anchor, x_in)

        def layer_fn(d, x_, c_, j=j, method=method):
            return apply_layer(eqx.combine(d, nondiff[j], static[j]), method, x_, c_)

        _, vjp = jax.vjp(layer_fn, diff[j], x_in, cs)
        grads[j], g_x, g_cj = vjp((g_x, g_ld))
        if g_c is not None:
            g_c = g_c + g_cj
        x = x_in
    return (x, g_x, g_c), tuple(grads)


def _backward_segment(spec: SegmentSpec, diff, nondiff, static, residuals, carry, cs, g_ld):
    """The reverse of :func:`_forward_segment`: reverse scans over blocks and steps."""
    anchors, saved = residuals
    if not spec.stacked:
        inputs = ((diff, nondiff), saved, jnp.asarray(True))
        return _backward_step(spec, static, cs, g_ld, carry, inputs, anchors)
    back = not spec.reverse
    first = spec.steps - 1 if spec.reverse else 0  # the step that runs first in a block
    is_first = jnp.arange(spec.steps) == first

    def block(carry, inputs):
        block_arrays, (anchor, block_saved) = inputs

        def step(carry, step_inputs):
            return _backward_step(spec, static, cs, g_ld, carry, step_inputs, anchor)

        inputs = (block_arrays, block_saved, is_first)
        return jax.lax.scan(step, carry, inputs, reverse=back)

    inputs = ((diff, nondiff), (anchors, saved))
    return jax.lax.scan(block, carry, inputs, length=spec.blocks, reverse=back)


def _split(layers):
    diff, rest = eqx.partition(layers, eqx.is_inexact_array)
    nondiff, static = eqx.partition(rest, eqx.is_array)
    return diff, nondiff, static


def invertible_apply(
    bijector: AbstractBijector,
    method: str,
    xs: Array,
    cs: Array | None,
    anchor_every: int | None = None,
) -> tuple[Array, Array]:
    """``bijector.method`` on a batch ``xs`` of shape ``(n, *event)``, invertible backprop.

    Returns ``(ys, log_dets)`` of shapes ``(n, *out_event)`` and ``(n,)``. Gradients with
    respect to the bijector's floating-point leaves, ``xs`` and ``cs`` (``(n, *cond_shape)``
    or None) come from the backward pass in the module docstring; integer leaves get none.
    """
    specs, layers = segments(bijector, method, anchor_every)
    diff, nondiff, static = _split(layers)

    @jax.custom_vjp
    def run(diff, nondiff, xs, cs):
        ys, log_det, _ = _run(specs, eqx.combine(diff, nondiff, static), xs, cs)
        return ys, log_det

    def run_fwd(diff, nondiff, xs, cs):
        layers = eqx.combine(diff, nondiff, static)
        ys, log_det, residuals = _run(specs, layers, xs, cs, save=True)
        return (ys, log_det), (diff, nondiff, ys, cs, residuals)

    def run_bwd(res, cotangents):
        diff, nondiff, ys, cs, residuals = res
        g_ys, g_ld = cotangents
        carry = (ys, g_ys, None if cs is None else jnp.zeros_like(cs))
        grads: list = [None] * len(specs)
        for i in reversed(range(len(specs))):
            carry, grads[i] = _backward_segment(
                specs[i], diff[i], nondiff[i], static[i], residuals[i], carry, cs, g_ld
            )
        _, g_xs, g_cs = carry
        return grads, None, g_xs, g_cs  # None: integer leaves have no cotangent

    run.defvjp(run_fwd, run_bwd)
    return run(diff, nondiff, xs, cs)
