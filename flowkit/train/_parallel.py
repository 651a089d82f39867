"""How :func:`flowkit.fit` spreads its steps over devices: one ``jit``-ed device, ``pmap``
over this process's devices, or a ``jit`` sharded over a mesh."""

import dataclasses
from collections.abc import Callable
from typing import Literal, get_args

import jax

ParallelMode = Literal["jit", "pmap", "shard"]
PARALLEL_MODES: tuple[str, ...] = get_args(ParallelMode)


@dataclasses.dataclass(frozen=True)
class Parallel:
    """Where the training steps run.

    Args:
        mode: "jit" (one device), "pmap" (every local device, state replicated, gradients
            averaged) or "shard" (one program over ``devices`` devices of a 1-D mesh).
        devices: how many devices for "shard" (default: all); "pmap" always takes all local
            devices and "jit" one.

    Raises:
        ValueError: an unknown mode, or a device count the mode or machine does not allow.
    """

    mode: ParallelMode = "jit"
    devices: int | None = None

    def __post_init__(self):
        if self.mode not in PARALLEL_MODES:
            raise ValueError(
                f"Parallel: unknown mode {self.mode!r}; choose one of {PARALLEL_MODES}."
            )
        if self.mode == "jit" and self.devices not in (None, 1):
            raise ValueError(
                f"Parallel: mode 'jit' runs on one device; got devices={self.devices}."
            )

    def device_count(self) -> int:
        """How many devices the steps use.

        Returns:
            1 for "jit", the local device count for "pmap", ``devices`` (default: all) for
            "shard".

        Raises:
            ValueError: ``devices`` is not what the mode and machine allow.
        """
        if self.mode == "jit":
            return 1
        available = jax.local_device_count() if self.mode == "pmap" else jax.device_count()
        n = available if self.devices is None else self.devices
        if self.mode == "pmap" and n != available:
            raise ValueError(
                f"fit: parallel='pmap' runs on all {available} local devices; got devices={n} "
                f"(use Parallel('shard', devices) for a subset, or set the device count)."
            )
        if not 1 <= n <= available:
            raise ValueError(f"fit: devices must be in 1..{available}; got {n}.")
        return n

    def make_step(self, optimizer, loss, batch_size: int, after_update: Callable | None = None):
        """``(step, prepare_batch)`` for this mode.

        Args:
            optimizer: the optax optimiser.
            loss: the per-example loss (an :class:`AbstractLoss`).
            batch_size: the global batch size (must divide over the devices).
            after_update: see :func:`flowkit.train.update_on_batch` (not under pmap).

        Returns:
            The :class:`TrainStep` and a function applied to each batch first (or None).
        """
        from ._pmap_step import make_pmap_step, reshape_for_pmap
        from ._sharded_step import data_mesh, make_sharded_step
        from ._step import make_step

        n = self.device_count()
        if batch_size % n:
            raise ValueError(
                f"fit: the batch of {batch_size} does not split over {n} devices; use a "
                f"batch size divisible by {n}."
            )
        if self.mode == "jit":
            return make_step(optimizer, loss, after_update=after_update), None
        if self.mode == "pmap":
            if after_update is not None:
                raise ValueError(
                    "fit: batch norm takes statistics over the whole batch, which a pmap step "
                    "splits; train this flow with parallel='shard' (or 'jit')."
                )
            return make_pmap_step(optimizer, loss), lambda batch: reshape_for_pmap(batch, n)
        mesh = data_mesh(n)
        return make_sharded_step(optimizer, loss, mesh=mesh, after_update=after_update), None
