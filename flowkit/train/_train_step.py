"""A jitted training step together with how its state and batches are laid out."""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def to_host(tree):
    """Array leaves as numpy (non-arrays and PRNG keys kept).

    Works on fully replicated global arrays in a multi-process run too: only this process's
    first shard is read.

    Args:
        tree: any pytree, e.g. ``(model, opt_state)`` or a step's metrics.

    Returns:
        The same tree with numpy array leaves of the same shapes.
    """

    def one(x):
        if isinstance(x, jax.Array) and not jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return np.asarray(x.addressable_shards[0].data).reshape(x.shape)
        return x

    return jax.tree_util.tree_map(one, tree)


@dataclasses.dataclass(frozen=True)
class TrainStep:
    """``step(model, opt_state, batch, key) -> (model, opt_state, metrics)`` plus layout.

    Built by :func:`make_step`, :func:`make_pmap_step` and :func:`make_sharded_step`.

    Args:
        update: the jitted step, ``(model, opt_state, batch, key) -> (model, opt_state,
            metrics)``.
        put_state: lays out one copy of ``(model, opt_state)`` for the step; call it
            before the first step.
        put_batch: lays out one batch for the step; call it on every batch.
        get_state: turns the step's state back into one host copy (numpy leaves), as
            checkpoints store it.
        get_metrics: the same for the step's metrics.
        examples: the global number of examples in a batch given to ``put_batch``.
        kind: ``"jit"``, ``"pmap"`` or ``"shard"``.
    """

    update: Callable[..., tuple[Any, Any, dict]]
    put_state: Callable[[Any], Any]
    put_batch: Callable[[Any], Any]
    get_state: Callable[[Any], Any]
    get_metrics: Callable[[dict], dict]
    examples: Callable[[Any], int]
    kind: str

    def __call__(self, model, opt_state, batch, key):
        return self.update(model, opt_state, batch, key)

    def compiled_count(self) -> int | None:
        """How many programs the jitted update holds (None if unknown)."""
        cached = getattr(self.update, "_cached", None)
        size = getattr(cached, "_cache_size", None)
        return int(size()) if callable(size) else None  # pyright: ignore[reportArgumentType]
