"""Putting a process's batch on the devices: split for ``pmap``, or one global ``jax.Array``
sharded along the batch axis for ``jit`` (single- or multi-process)."""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._errors import DataError


def split_for_devices(batch: dict, num_devices: int) -> dict:
    """Each leaf reshaped for a ``jax.pmap`` over ``num_devices`` (numpy, nothing placed).

    Args:
        batch: name to array, each of shape ``(n, ...)``.
        num_devices: how many devices to split over.

    Returns:
        The same names, each of shape ``(num_devices, n // num_devices, ...)``.

    Raises:
        DataError: if ``n`` is not divisible by ``num_devices``.
    """

    def split(leaf):
        n = leaf.shape[0]
        if n % num_devices:
            raise DataError(
                "batch",
                f"{n} examples per process do not split over {num_devices} devices; choose a "
                f"global batch size divisible by the total number of devices.",
            )
        return leaf.reshape(num_devices, n // num_devices, *leaf.shape[1:])

    return {name: split(np.asarray(leaf)) for name, leaf in batch.items()}


def to_pmap_batch(batch: dict, devices: list | None = None) -> dict:
    """A process's batch placed one slice per device, ready for a ``jax.pmap`` step.

    Args:
        batch: name to array, each of shape ``(n, ...)``.
        devices: the devices of the ``pmap``; ``None`` takes ``jax.local_devices()``.

    Returns:
        The same names, each a ``jax.Array`` of shape ``(len(devices), n // len(devices),
        ...)`` sharded over ``devices``.

    Raises:
        DataError: if ``n`` is not divisible by the number of devices.
    """
    devices = jax.local_devices() if devices is None else devices
    mesh = Mesh(np.asarray(devices), ("devices",))
    sharding = NamedSharding(mesh, PartitionSpec("devices"))
    return {
        k: jax.device_put(v, sharding) for k, v in split_for_devices(batch, len(devices)).items()
    }


def _check_rows_owned(sharding: NamedSharding, global_shape: tuple[int, ...], local: int):
    """In a multi-process run, this process's devices must hold rows [p*n, (p+1)*n) of the
    global batch, the rows the loader gave it."""
    starts, stops = [], []
    for index in sharding.addressable_devices_indices_map(global_shape).values():
        rows = slice(None) if index is None else index[0]
        starts.append(rows.start or 0)
        stops.append(global_shape[0] if rows.stop is None else rows.stop)
    start, stop = min(starts), max(stops)
    p = jax.process_index()
    if (start, stop) != (p * local, (p + 1) * local):
        raise DataError(
            "batch",
            f"process {p}'s devices hold rows {start}..{stop} of the global batch under this "
            f"sharding, but the loader gave it rows {p * local}..{(p + 1) * local}; build the "
            f"mesh with jax.make_mesh (devices in process order) and shard the batch axis.",
        )


def _row_shards(sharding: NamedSharding) -> int:
    """Into how many parts ``sharding`` splits the batch axis."""
    names = sharding.spec[0] if len(sharding.spec) else None
    names = () if names is None else (names,) if isinstance(names, str) else names
    return int(np.prod([sharding.mesh.shape[name] for name in names]))


def to_global_array(batch: dict, sharding: NamedSharding | Mesh, axis: str = "data") -> dict:
    """One global ``jax.Array`` per leaf from every process's share, for a ``jit`` step.

    Built with ``jax.make_array_from_process_local_data``; single- or multi-process.

    Args:
        batch: this process's share, name to array, each of shape ``(n_local, ...)``.
        sharding: how to shard the batch axis; a ``Mesh`` means
            ``NamedSharding(mesh, PartitionSpec(axis))``.
        axis: the mesh axis the batch is split over when ``sharding`` is a ``Mesh``.

    Returns:
        The same names, each of shape ``(n_local * process_count, ...)``, sharded as
        ``sharding``.

    Raises:
        DataError: if the global batch does not split over the devices of the batch axis, or
            (multi-process) this process's devices do not hold the rows the loader gave it.
    """
    if isinstance(sharding, Mesh):
        sharding = NamedSharding(sharding, PartitionSpec(axis))
    out = {}
    for name, leaf in batch.items():
        leaf = np.asarray(leaf)
        global_shape = (leaf.shape[0] * jax.process_count(), *leaf.shape[1:])
        devices = _row_shards(sharding)
        if global_shape[0] % devices:
            raise DataError(
                "batch",
                f"a global batch of {global_shape[0]} examples does not split over "
                f"{devices} devices; choose a global batch size divisible by {devices}.",
            )
        if jax.process_count() > 1:
            _check_rows_owned(sharding, global_shape, leaf.shape[0])
        out[name] = jax.make_array_from_process_local_data(sharding, leaf, global_shape)
    return out
