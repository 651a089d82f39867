"""The data-parallel ``pmap`` step: replicated state, gradients averaged over devices."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ..flows._frozen_base import trainable_filter
from ._losses import Loss, nll_loss, split_batch
from ._train_step import TrainStep
from ._update import update_on_batch

AXIS = "devices"


def replicate(tree):
    """One copy of every array leaf per local device, stacked along a new leading axis and
    placed as the pmap step lays out its state (so the first call does not compile twice)."""
    devices = jax.local_devices()
    sharding = NamedSharding(Mesh(np.asarray(devices), (AXIS,)), PartitionSpec(AXIS))

    def put(x):
        x = np.asarray(x)
        return jax.device_put(np.broadcast_to(x, (len(devices), *x.shape)), sharding)

    return jax.tree_util.tree_map(lambda x: put(x) if eqx.is_array(x) else x, tree)


def unreplicate(tree):
    """The first copy of every replicated array leaf, as numpy (inverse of :func:`replicate`)."""

    def first(x):
        if isinstance(x, jax.Array):
            return np.asarray(x.addressable_shards[0].data).reshape(x.shape[1:])
        return np.asarray(x)[0] if eqx.is_array(x) else x

    return jax.tree_util.tree_map(first, tree)


def split_for_devices(batch, num_devices: int | None = None):
    """Reshape every leaf ``(B, ...)`` to ``(num_devices, B // num_devices, ...)``."""
    n = jax.local_device_count() if num_devices is None else num_devices

    def split(x):
        x = np.asarray(x)
        if x.shape[0] % n:
            raise ValueError(
                f"split_for_devices: a batch of {x.shape[0]} does not split over {n} devices; "
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
            f"{tuple(x.shape)}. Split a flat batch with split_for_devices(batch)."
        )
    return batch


def make_pmap_step(
    optimizer: optax.GradientTransformation,
    loss: Loss = nll_loss,
    *,
    filter_spec: Callable = trainable_filter,
) -> TrainStep:
    """:func:`make_step` over this process's devices with ``jax.pmap``.

    Model and optimiser state are replicated (leading device axis, see :func:`replicate`);
    the batch is ``(devices, per_device, *event)``; the key is shared and example ``i`` of
    device ``d`` draws from ``fold_in(key, d * per_device + i)``, as in the one-device step.
    Gradients and metrics are averaged with ``lax.pmean`` over all devices (of all processes
    under ``jax.distributed``), so every copy stays identical.
    """

    def per_device(model, opt_state, batch, key):
        n = jnp.shape(split_batch(batch)[0])[0]
        return update_on_batch(
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

    mapped = eqx.filter_pmap(
        per_device, axis_name=AXIS, in_axes=(eqx.if_array(0), eqx.if_array(0), 0, None)
    )
    return TrainStep(
        update=mapped,
        put_state=replicate,
        put_batch=_check_layout,
        get_state=unreplicate,
        get_metrics=unreplicate,
        examples=_examples,
        kind="pmap",
    )


def _examples(batch) -> int:
    shape = jax.tree_util.tree_leaves(split_batch(batch)[0])[0].shape
    return int(shape[0] * shape[1] * jax.process_count())
