"""What :func:`flowkit.fit` trains with: the batches (arrays or a data pipeline), the loss
(with a memory mode) and the step for the chosen parallelism."""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

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


def with_memory(loss: Callable, memory: str) -> Callable:
    """``loss`` computed on the flow in ``memory`` mode (parameters, optimiser state and saved
    files stay those of the plain flow)."""
    if memory == "standard":
        return loss
    return lambda model, x, condition, keys: loss(
        with_memory_mode(model, memory), x, condition, keys
    )


def make_parallel_step(parallel: str, devices: int | None, batch_size: int, optimizer, loss):
    """``(step, prepare_batch)`` for ``parallel``: one device (``"jit"``), ``"pmap"`` over this
    process's devices or a ``"shard"``-ed jit over ``devices`` (default: all)."""
    from ..train import data_mesh, make_pmap_step, make_sharded_step, make_step
    from ..train import split_for_devices as split

    if parallel not in PARALLEL:
        raise ValueError(f"fit: unknown parallel {parallel!r}; choose one of {PARALLEL}.")
    if parallel == "jit":
        if devices not in (None, 1):
            raise ValueError(f"fit: parallel='jit' runs on one device; got devices={devices}.")
        return make_step(optimizer, loss), None
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
        return make_pmap_step(optimizer, loss), lambda batch: split(batch, n)
    return make_sharded_step(optimizer, loss, mesh=data_mesh(n)), None


def chain(first: Callable | None, second: Callable | None) -> Callable | None:
    """``second(first(batch))``, skipping the missing ones."""
    if first is None or second is None:
        return first or second
    return lambda batch: second(first(batch))
