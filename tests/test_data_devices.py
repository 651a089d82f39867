"""Placing a process's batch on devices (8 fake CPU devices): split for pmap, and one global
array sharded over a mesh's data axis for jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from flowkit.data import (
    ArrayDataset,
    DataError,
    Loader,
    split_for_devices,
    to_global_array,
    to_pmap_batch,
)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    data = ArrayDataset(rng.integers(0, 17, (64, 8, 8, 1), np.uint8), None, 17, "digits-like")
    return Loader(data, batch_size=32, seed=1, flatten=True).batch(2)


def test_split_for_devices(batch):
    split = split_for_devices(batch, 8)
    assert split["x"].shape == (8, 4, 64) and split["index"].shape == (8, 4)
    np.testing.assert_array_equal(split["x"].reshape(32, 64), batch["x"])
    with pytest.raises(DataError, match=r"32 examples per process do not split over 3 devices"):
        split_for_devices(batch, 3)


def test_pmap_batch_is_placed_one_slice_per_device(batch):
    placed = to_pmap_batch(batch)
    x = placed["x"]
    assert x.shape == (8, 4, 64)
    assert [s.device for s in x.addressable_shards] == jax.local_devices()
    for shard in x.addressable_shards:
        np.testing.assert_array_equal(shard.data, batch["x"].reshape(8, 4, 64)[shard.index])
    total = jax.pmap(lambda v: jax.lax.psum(v.sum(), "d"), axis_name="d")(x)
    np.testing.assert_allclose(total[0], batch["x"].sum(), rtol=1e-5)


def test_global_array_over_a_mesh(batch):
    mesh = jax.make_mesh((8,), ("data",))
    placed = to_global_array(batch, mesh)  # one process: the global batch is this batch
    x = placed["x"]
    assert x.shape == (32, 64) and x.sharding == NamedSharding(mesh, PartitionSpec("data"))
    for shard in x.addressable_shards:  # device i holds rows 4i..4i+3
        np.testing.assert_array_equal(shard.data, batch["x"][shard.index])
    np.testing.assert_allclose(jax.jit(jnp.sum)(x), batch["x"].sum(), rtol=1e-5)
    same = to_global_array(batch, NamedSharding(mesh, PartitionSpec("data")))
    np.testing.assert_array_equal(same["index"], batch["index"])
