"""Shuffled batches of in-memory arrays, with a checkpointable position."""

from typing import Any

import numpy as np

from ._pmap_step import reshape_for_pmap


class ArrayBatches:
    """An endless iterator of equal-shape batches of in-memory arrays.

    Reshuffled every epoch from ``(seed, epoch)``; the remainder of each epoch
    (``N % batch_size`` rows, other ones each epoch) is dropped so every batch has the same
    shape. ``get_state``/``set_state`` save and restore the position (JSON).

    Args:
        *arrays: arrays of equal first dimension ``N``, e.g. ``x`` shape ``(N, *event)``
            and a condition ``(N, *cond_shape)``. One array gives array batches of shape
            ``(batch_size, ...)``, several give tuples of them (e.g. ``(x, condition)``).
        batch_size: rows per batch, in ``1..N``.
        seed: seeds the shuffles.
        devices: reshape each batch to ``(devices, batch_size // devices, ...)`` for the
            pmap step; None keeps ``(batch_size, ...)``.

    Raises:
        ValueError: no arrays, first dimensions that differ, or ``batch_size`` outside
            ``1..N``.
    """

    def __init__(self, *arrays, batch_size: int, seed: int = 0, devices: int | None = None):
        if not arrays:
            raise ValueError("ArrayBatches: give at least one array.")
        self.arrays = [np.asarray(a) for a in arrays]
        n = self.arrays[0].shape[0]
        if any(a.shape[0] != n for a in self.arrays):
            raise ValueError(
                f"ArrayBatches: arrays must share their first dimension; got "
                f"{[a.shape for a in self.arrays]}."
            )
        if not 1 <= batch_size <= n:
            raise ValueError(f"ArrayBatches: need 1 <= batch_size <= {n}; got {batch_size}.")
        self.batch_size, self.seed, self.devices = batch_size, seed, devices
        self.per_epoch = n // batch_size
        self.epoch, self.index = 0, 0
        self._order: tuple[int, np.ndarray] | None = None

    def _permutation(self) -> np.ndarray:
        if self._order is None or self._order[0] != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch])
            self._order = (self.epoch, rng.permutation(self.arrays[0].shape[0]))
        return self._order[1]

    def __iter__(self):
        return self

    def __next__(self) -> Any:
        if self.index == self.per_epoch:
            self.epoch, self.index = self.epoch + 1, 0
        first = self.index * self.batch_size
        rows = self._permutation()[first : first + self.batch_size]
        self.index += 1
        batch = tuple(a[rows] for a in self.arrays)
        if self.devices is not None:
            batch = reshape_for_pmap(batch, self.devices)
        return batch[0] if len(batch) == 1 else batch

    def get_state(self) -> dict:
        """The position: ``{"epoch", "index"}`` (batches taken in the current epoch)."""
        return {"epoch": self.epoch, "index": self.index}

    def set_state(self, state: dict) -> None:
        """Continue from a saved position.

        Args:
            state: a position returned by :meth:`get_state`.
        """
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
