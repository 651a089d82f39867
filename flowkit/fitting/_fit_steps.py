"""What :func:`flowkit.fit` trains with: the batches (arrays or a data pipeline), the loss
(with a memory mode) and the step for the chosen parallelism."""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ..flows._flow import Flow
from ..flows._memory import with_memory_mode

PARALLEL = ("jit", "pmap", "shard")


def is_loader(data: Any) -> bool:
    """A ``flowkit.data.Loader`` (duck-typed: importing it would import Grain)."""
    return hasattr(data, "batches_per_epoch") and hasattr(data, "iterator")


@dataclasses.dataclass
class Batches:
    """An iterator of training batches and how they are read: ``steps_per_epoch`` batches of
    ``batch_size`` examples; ``loss`` for the step; ``prepare`` for each batch."""

    iterator: Any
    steps_per_epoch: int
    batch_size: int
    loss: Callable
    prepare: Callable[[Any], Any] | None


def array_batches(data, condition, *, batch_size: int, seed: int, image: bool, num_levels: int):
    """Shuffled fixed-shape batches of in-memory arrays; integer pixels are dequantized in
    the step (new noise every step, from the step key)."""
    from ..train import ArrayBatches, bits_per_dim_loss, nll_loss

    arrays = (data,) if condition is None else (data, condition)
    batches = ArrayBatches(*arrays, batch_size=batch_size, seed=seed)
    loss = bits_per_dim_loss(num_levels=num_levels) if image else nll_loss
    return Batches(batches, batches.per_epoch, batch_size, loss, None)


def loader_batches(loader, flow: Flow) -> Batches:
    """Batches from a ``flowkit.data.Loader``: already dequantized in [0, 1) on the host."""
    from ..train import bits_per_dim_loss, nll_loss

    if tuple(loader.event_shape) != tuple(flow.shape):
        raise ValueError(
            f"fit: the loader gives examples of shape {tuple(loader.event_shape)} but the flow "
            f"takes events of shape {tuple(flow.shape)}; build the flow for the data (or set "
            "the loader's flatten=)."
        )
    if loader.data_range != 1.0 or flow.cond_shape is not None:
        raise ValueError(
            "fit: a Loader must give unconditional data in [0, 1) (scale='unit'), as "
            "validation scores it; pass arrays for conditional flows."
        )
    levels = loader.data.num_levels
    loss = nll_loss if levels is None else bits_per_dim_loss(num_levels=levels)
    return Batches(
        loader.iterator(),
        loader.batches_per_epoch,
        loader.batch_size,
        loss,
        lambda batch: batch["x"],
    )


def with_noise(batches: Batches, noise_std: float, image: bool, num_levels: int) -> Batches:
    """``batches`` whose loss sees the data plus fresh ``N(0, noise_std^2)`` noise (TarFlow's
    recipe); integer pixels are dequantized first."""
    if noise_std == 0:
        return batches
    from ..train import bits_per_dim_loss, nll_loss, noise_augmented_loss

    if noise_std < 0:
        raise ValueError(f"fit: noise_std must be >= 0; got {noise_std}.")
    plain = bits_per_dim_loss(num_levels=num_levels) if image else nll_loss
    loss = noise_augmented_loss(noise_std, plain, num_levels=num_levels)
    return dataclasses.replace(batches, loss=loss)


def initial_actnorm(flow: Flow, data, batches: Batches, key, num_levels: int) -> Flow:
    """``flow`` with its ActNorm layers initialised (:func:`flowkit.data_init`) on up to 512
    training examples, as the step's loss sees them (integer pixels dequantized)."""
    from ..flows import data_init, dequantize

    if is_loader(data):
        iterator = data.iterator()
        try:
            x, condition = next(iter(iterator))["x"], None
        finally:
            if hasattr(iterator, "close"):
                iterator.close()
    else:
        x, condition = batches.iterator.arrays[0][:512], None
        if len(batches.iterator.arrays) > 1:
            condition = batches.iterator.arrays[1][:512]
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.integer):
        x = dequantize(jax.random.fold_in(key, 7), x, num_levels=num_levels)
    return data_init(flow, x, condition)


def batch_norm_update(flow: Flow, num_levels: int) -> Callable | None:
    """For a flow with training-mode batch norm: the step's ``after_update`` that advances
    its running statistics on the batch as the loss saw it (integer pixels dequantized with
    the same per-example keys); None for other flows."""
    from ..flows import advance_batch_norm
    from ..flows._batch_layers import has_batch_norm
    from ..train._losses import dequantize_pixels

    if not has_batch_norm(flow):
        return None

    def advance(model, x, condition, keys):
        return advance_batch_norm(model, dequantize_pixels(keys, x, num_levels), condition)

    return advance


def with_memory(loss: Callable, memory: str) -> Callable:
    """``loss`` computed on the flow in ``memory`` mode (parameters, optimiser state and saved
    files stay those of the plain flow)."""
    if memory == "standard":
        return loss
    return lambda model, x, condition, keys: loss(
        with_memory_mode(model, memory), x, condition, keys
    )


def make_parallel_step(
    parallel: str,
    devices: int | None,
    batch_size: int,
    optimizer,
    loss,
    after_update: Callable | None = None,
):
    """``(step, prepare_batch)`` for ``parallel``: one device (``"jit"``), ``"pmap"`` over this
    process's devices or a ``"shard"``-ed jit over ``devices`` (default: all).
    ``after_update``: see :func:`flowkit.train.update_on_batch` (not under pmap)."""
    from ..train import data_mesh, make_pmap_step, make_sharded_step, make_step
    from ..train import split_for_devices as split

    if parallel not in PARALLEL:
        raise ValueError(f"fit: unknown parallel {parallel!r}; choose one of {PARALLEL}.")
    if parallel == "jit":
        if devices not in (None, 1):
            raise ValueError(f"fit: parallel='jit' runs on one device; got devices={devices}.")
        return make_step(optimizer, loss, after_update=after_update), None
    available = jax.local_device_count() if parallel == "pmap" else jax.device_count()
    n = available if devices is None else devices
    if parallel == "pmap" and n != available:
        raise ValueError(
            f"fit: parallel='pmap' runs on all {available} local devices; got devices={n} "
            f"(use parallel='shard' for a subset, or set the device count)."
        )
    if not 1 <= n <= available:
        raise ValueError(f"fit: devices must be in 1..{available}; got {n}.")
    if batch_size % n:
        raise ValueError(
            f"fit: the batch of {batch_size} does not split over {n} devices; use a batch "
            f"size divisible by {n}."
        )
    if parallel == "pmap":
        if after_update is not None:
            raise ValueError(
                "fit: batch norm takes statistics over the whole batch, which a pmap step "
                "splits; train this flow with parallel='shard' (or 'jit')."
            )
        return make_pmap_step(optimizer, loss), lambda batch: split(batch, n)
    step = make_sharded_step(optimizer, loss, mesh=data_mesh(n), after_update=after_update)
    return step, None


def chain(first: Callable | None, second: Callable | None) -> Callable | None:
    """``second(first(batch))``, skipping the missing ones."""
    if first is None or second is None:
        return first or second
    return lambda batch: second(first(batch))
