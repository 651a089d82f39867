"""The data-parallel ``pmap`` step: replicated state, gradients averaged over devices."""

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._engine._modes import MemoryModeName
from .._engine._with_memory_mode import memory_loss
from ..flows._frozen_base import trainable_filter
from ._loss_objects import DEFAULT_LOSS
from ._losses import Loss, split_batch
from ._train_step import TrainStep
from ._update import update_on_batch

AXIS = "devices"


def replicate(tree):
    """One copy of every array leaf per local device, as the pmap step lays out its state.

    Placed as the step returns it, so the first call does not compile twice.

    Args:
        tree: any pytree, one copy (e.g. ``(model, opt_state)``).

    Returns:
        The same tree, each array leaf of shape ``s`` now ``(local_devices, *s)``;
        non-array leaves kept.
    """
    devices = jax.local_devices()
    sharding = NamedSharding(Mesh(np.asarray(devices), (AXIS,)), PartitionSpec(AXIS))

    def put(x):
        x = np.asarray(x)
        return jax.device_put(np.broadcast_to(x, (len(devices), *x.shape)), sharding)

    return jax.tree_util.tree_map(lambda x: put(x) if eqx.is_array(x) else x, tree)


def unreplicate(tree):
    """The first copy of every replicated array leaf (inverse of :func:`replicate`).

    Args:
        tree: a pytree whose array leaves have a leading device axis,
            ``(devices, *s)``.

    Returns:
        The same tree with numpy leaves of shape ``s``; non-array leaves kept.
    """

    def first(x):
        if isinstance(x, jax.Array):
            return np.asarray(x.addressable_shards[0].data).reshape(x.shape[1:])
        return np.asarray(x)[0] if eqx.is_array(x) else x

    return jax.tree_util.tree_map(first, tree)


def reshape_for_pmap(batch, num_devices: int | None = None):
    """Split a flat batch over devices for the pmap step.

    Args:
        batch: a pytree of arrays with leading dimension ``B``, e.g. ``x`` shape
            ``(B, *event)`` or ``(x, condition)``.
        num_devices: the number of devices; None: this process's local devices.

    Returns:
        The same tree as numpy, each leaf ``(B, ...)`` now
        ``(num_devices, B // num_devices, ...)``.

    Raises:
        ValueError: ``B`` does not divide by ``num_devices``.
    """
    n = jax.local_device_count() if num_devices is None else num_devices

    def split(x):
        x = np.asarray(x)
        if x.shape[0] % n:
            raise ValueError(
                f"reshape_for_pmap: a batch of {x.shape[0]} does not split over {n} devices; "
                f"use a batch size divisible by {n}."
            )
        return x.reshape((n, x.shape[0] // n) + x.shape[1:])

    return jax.tree_util.tree_map(split, batch)


def _check_layout(batch):
    x = jax.tree_util.tree_leaves(split_batch(batch)[0])[0]
    n = jax.local_device_count()
    if x.ndim < 2 or x.shape[0] != n:
        raise ValueError(
            f"pmap step: expected a batch shaped (devices={n}, per_device, ...); got shape "
            f"{tuple(x.shape)}. Split a flat batch with reshape_for_pmap(batch)."
        )
    return batch


def make_pmap_step(
    optimizer: optax.GradientTransformation,
    loss: Loss = DEFAULT_LOSS,
    *,
    filter_spec: Callable = trainable_filter,
    memory: MemoryModeName = "standard",
) -> TrainStep:
    """:func:`make_step` over this process's devices with ``jax.pmap``.

    Model and optimiser state are replicated (leading device axis, see :func:`replicate`);
    the batch is ``(devices, per_device, *event)`` (split a flat one with
    :func:`reshape_for_pmap`); the key is shared and example ``i`` of device ``d`` draws
    from ``fold_in(key, d * per_device + i)``, as in the one-device step. Gradients and
    metrics are averaged with ``lax.pmean`` over all devices (of all processes under
    ``jax.distributed``), so every copy stays identical.

    Args:
        optimizer: the optax optimiser.
        loss: as in :func:`make_step`.
        filter_spec: as in :func:`make_step`.
        memory: as in :func:`make_step`.

    Returns:
        The :class:`TrainStep` (kind ``"pmap"``); its ``put_batch`` refuses a batch whose
        leading axis is not the local device count.

    Raises:
        ValueError: an unknown ``memory`` mode.
    """
    loss = memory_loss(loss, memory, owner="make_pmap_step")

    # Plain jax.pmap with integer in/out axes (eqx.filter_pmap's pytree out_axes break the
    # multi-process path of jax 0.10's pmap); non-array leaves travel as a static argument.
    @functools.partial(jax.pmap, axis_name=AXIS, in_axes=(0, 0, None), static_broadcasted_argnums=3)
    def mapped(arrays, batch, key, static: _Static):
        model, opt_state = eqx.combine(arrays, static.tree)
        n = jnp.shape(split_batch(batch)[0])[0]
        model, opt_state, metrics = update_on_batch(
            loss,
            optimizer,
            filter_spec,
            model,
            opt_state,
            batch,
            key,
            offset=jax.lax.axis_index(AXIS) * n,
            reduce=lambda tree: jax.lax.pmean(tree, AXIS),
        )
        return eqx.filter((model, opt_state), eqx.is_array), metrics

    def update(model, opt_state, batch, key):
        arrays, static = eqx.partition((model, opt_state), eqx.is_array)
        arrays, metrics = mapped(arrays, batch, key, _Static(static))
        model, opt_state = eqx.combine(arrays, static)
        return model, opt_state, metrics

    return TrainStep(
        update=update,
        put_state=replicate,
        put_batch=_check_layout,
        get_state=unreplicate,
        get_metrics=unreplicate,
        examples=_examples,
        kind="pmap",
    )


class _Static(eqx.Module):
    """The non-array part of (model, opt_state), hashable for pmap's static argument."""

    tree: Any = eqx.field(static=True)


def _examples(batch) -> int:
    shape = jax.tree_util.tree_leaves(split_batch(batch)[0])[0].shape
    return int(shape[0] * shape[1] * jax.process_count())
