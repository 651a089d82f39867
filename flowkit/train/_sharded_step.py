"""The sharded-``jit`` step: the batch split over a mesh's data axis, the model replicated."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from .._engine._modes import MemoryModeName
from .._engine._with_memory_mode import memory_loss
from ..flows._frozen_base import trainable_filter
from ._loss_objects import DEFAULT_LOSS
from ._losses import Loss, split_batch
from ._train_step import TrainStep, to_host
from ._update import update_on_batch

DATA_AXIS = "data"


def data_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh named ``"data"`` for :func:`make_sharded_step`.

    Args:
        num_devices: use the first ``num_devices`` global devices; None: all of them
            (every process's).

    Returns:
        The mesh, shape ``(num_devices,)``, its axis of type ``Auto``.
    """
    devices = jax.devices()
    n = len(devices) if num_devices is None else num_devices
    return jax.make_mesh((n,), (DATA_AXIS,), devices=devices[:n], axis_types=(AxisType.Auto,))


def _put(sharding):
    """Host arrays (this process's part) to global arrays; jax.Arrays pass unchanged (already
    global, e.g. from the data pipeline's ``to_global_array``)."""

    def put(x):
        if isinstance(x, jax.Array) or not eqx.is_array(x):
            return x
        return jax.make_array_from_process_local_data(sharding, np.asarray(x))

    return lambda tree: jax.tree_util.tree_map(put, tree)


def _replicate(sharding):
    """One copy of the state (numpy or jax.Array leaves) replicated over the mesh. jax.Arrays
    placed otherwise (e.g. a freshly built model on one device) are re-placed too: the step
    returns replicated state, so a first call on other placements would compile twice."""

    def put(x):
        if not eqx.is_array(x) or (isinstance(x, jax.Array) and x.sharding == sharding):
            return x
        if isinstance(x, jax.Array) and (
            jnp.issubdtype(x.dtype, jax.dtypes.prng_key) or not x.is_fully_addressable
        ):
            return jax.device_put(x, sharding)  # keys, and global arrays: resharded by jax
        return jax.make_array_from_process_local_data(sharding, np.asarray(x))

    return lambda tree: jax.tree_util.tree_map(put, tree)


def _first(batch):
    return jax.tree_util.tree_leaves(split_batch(batch)[0])[0]


def _global_rows(batch) -> int:
    """Rows of the global batch: a jax.Array is global already; host data are this
    process's share."""
    x = _first(batch)
    local = int(np.shape(x)[0])
    return local if isinstance(x, jax.Array) else local * jax.process_count()


def make_sharded_step(
    optimizer: optax.GradientTransformation,
    loss: Loss = DEFAULT_LOSS,
    *,
    mesh: Mesh | None = None,
    filter_spec: Callable = trainable_filter,
    memory: MemoryModeName = "standard",
    after_update: Callable | None = None,
) -> TrainStep:
    """:func:`make_step` as one ``jit`` program over a mesh, the batch split along its axis.

    ``put_batch`` turns this process's rows of the global batch, ``(B_local, *event)``,
    into a global array ``(B, *event)`` sharded along the mesh axis
    (``jax.make_array_from_process_local_data``; in one process, the whole batch;
    jax.Arrays, already global, pass unchanged); ``put_state`` replicates the model and
    optimiser state over the mesh. ``B`` must divide by the number of devices in the mesh.
    Results equal the one-device step on the global batch, up to the order of
    floating-point reductions.

    Args:
        optimizer: the optax optimiser.
        loss: as in :func:`make_step`.
        mesh: a 1-D mesh with an ``Auto`` axis; None: :func:`data_mesh`.
        filter_spec: as in :func:`make_step`.
        memory: as in :func:`make_step`.
        after_update: as in :func:`make_step` (batch statistics are taken over the global
            batch).

    Returns:
        The :class:`TrainStep` (kind ``"shard"``); its ``put_batch`` raises ValueError
        when this process's rows do not split over its devices.

    Raises:
        ValueError: a mesh that is not 1-D with an ``Auto`` axis, or an unknown ``memory``
            mode.
    """
    loss = memory_loss(loss, memory, owner="make_sharded_step")
    mesh = data_mesh() if mesh is None else mesh
    if len(mesh.axis_names) != 1 or mesh.axis_types[0] != AxisType.Auto:
        raise ValueError(
            f"make_sharded_step: expected a 1-D mesh with an Auto axis, as data_mesh() makes; "
            f"got axes {mesh.axis_names} of types {mesh.axis_types}."
        )
    axis = mesh.axis_names[0]
    replicated = NamedSharding(mesh, PartitionSpec())
    rows = NamedSharding(mesh, PartitionSpec(axis))

    @eqx.filter_jit
    def update(model, opt_state, batch, key):
        batch = eqx.filter_shard(batch, rows)
        out = update_on_batch(
            loss, optimizer, filter_spec, model, opt_state, batch, key, after_update=after_update
        )
        return eqx.filter_shard(out, replicated)

    put_rows = _put(rows)

    def put_batch(batch):
        n, local = mesh.devices.size, len(mesh.local_devices)
        rows_here = int(np.shape(_first(batch))[0])
        if not isinstance(_first(batch), jax.Array) and rows_here % local:
            raise ValueError(
                f"sharded step: this process's batch of {rows_here} rows does not split "
                f"over its {local} of the mesh's {n} devices; use a global batch size "
                f"divisible by {n}."
            )
        return put_rows(batch)

    return TrainStep(
        update=update,
        put_state=_replicate(replicated),
        put_batch=put_batch,
        get_state=to_host,
        get_metrics=to_host,
        examples=_global_rows,
        kind="shard",
    )
