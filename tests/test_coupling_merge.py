"""The slice/interleave paths of Coupling's split and merge equal plain gathers."""

import jax.numpy as jnp
import numpy as np
import pytest

from flowkit.bijectors._coupling import Coupling, _merge_plan, _take
from flowkit.bijectors._masks import vector_mask
from flowkit.bijectors._transformers import AdditiveTransformer


def _masks(dim: int) -> list[np.ndarray]:
    rng = np.random.default_rng(dim)
    named = [vector_mask(kind, dim, p) for kind in ("alternating", "half") for p in (0, 1)]
    return named + [rng.random(dim) < 0.5 for _ in range(3)]


@pytest.mark.parametrize("dim", [2, 5, 8])
def test_split_and_merge_equal_gathers(dim):
    x = jnp.asarray(np.random.default_rng(0).normal(size=dim), dtype=jnp.float32)
    for mask in _masks(dim):
        if mask.all() or not mask.any():
            continue
        layer = Coupling(mask, lambda kept, cond: kept, AdditiveTransformer())
        kept, moved = x[np.asarray(layer.cond_idx)], x[np.asarray(layer.trans_idx)]
        np.testing.assert_array_equal(_take(x, layer.cond_idx), kept)
        np.testing.assert_array_equal(_take(x, layer.trans_idx), moved)
        np.testing.assert_array_equal(layer._merge(kept, moved), x)


@pytest.mark.parametrize("dim", [2, 7, 8])
def test_named_masks_need_no_gather(dim):
    for kind in ("alternating", "half"):
        for parity in (0, 1):
            mask = vector_mask(kind, dim, parity)
            cond = tuple(np.flatnonzero(mask).tolist())
            trans = tuple(np.flatnonzero(~mask).tolist())
            assert _merge_plan(cond, trans) != "gather", (kind, parity, dim)
    assert _merge_plan((0, 3), (1, 2)) == "gather"
