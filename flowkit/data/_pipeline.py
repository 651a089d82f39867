"""The Grain pipeline a :class:`~flowkit.data.Loader` and its iterator share.

Pipeline (Grain's dataset API)::

    MapDataset.range(start, stop)           global step numbers
      .map(BatchMaker)                      step -> this process's share of that batch
      .to_iter_dataset(ReadOptions)         in-order, prefetched in threads
      .mp_prefetch(MultiprocessingOptions)  optional worker processes, still in order

It is its own module so that imports point one way: ``_loader`` and ``_iterator`` both
import it, and neither imports the other's module for it.
"""

import dataclasses
import sys
from typing import Any

import grain

from ._batches import BatchMaker


def _allow_worker_processes() -> None:
    # grain 0.2.18 reads an absl flag when starting workers and fails if absl never parsed
    # flags (scripts without absl.app); fixed upstream (google/grain#1355). Mark them parsed.
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """The batch sequence (``maker`` over ``num_epochs``, None: endless) and how it is read:
    ``prefetch`` batches buffered by a thread, ``worker_count`` worker processes holding
    ``worker_buffer_size`` batches each. Settings are checked by the ``Loader``.

    Args:
        maker: step number to batch.
        num_epochs: how many epochs, or None (endless).
        worker_count: Grain worker processes (0: none).
        worker_buffer_size: batches each worker holds.
        prefetch: batches buffered by a thread (0: none).
    """

    maker: BatchMaker
    num_epochs: int | None
    worker_count: int
    worker_buffer_size: int
    prefetch: int

    @property
    def name(self) -> str:
        """The data set's name, for error messages."""
        return self.maker.data.name

    @property
    def batches_per_epoch(self) -> int:
        """``len(data) // batch_size``: the rows left over at the end of an epoch are dropped."""
        return len(self.maker.data) // self.maker.batch_size

    @property
    def num_steps(self) -> int | None:
        """Batches in all epochs, or ``None`` when ``num_epochs`` is ``None`` (endless)."""
        return None if self.num_epochs is None else self.num_epochs * self.batches_per_epoch

    def fingerprint(self) -> dict[str, Any]:
        """The settings that fix the sequence of global batches (saved in the state).

        Returns:
            JSON values by setting name.
        """
        m = self.maker
        return {
            "num_examples": len(m.data),
            "event_shape": list(m.data.event_shape),
            "num_levels": m.data.num_levels,
            "batch_size": m.batch_size,
            "seed": m.seed,
            "shuffle": m.shuffle,
            "dequantize": m.dequantize,
            "flatten": m.flatten,
        }

    def grain_iterator(self, start: int) -> grain.DatasetIterator:
        """Grain's iterator over the batches from step ``start`` on.

        Args:
            start: the first step.

        Returns:
            The iterator; it starts worker processes (if any) at the first ``next``.
        """
        stop = sys.maxsize if self.num_steps is None else self.num_steps
        steps = grain.MapDataset.range(start, stop).map(self.maker)
        options = grain.ReadOptions(
            num_threads=min(self.prefetch, 1), prefetch_buffer_size=self.prefetch
        )
        dataset = steps.to_iter_dataset(options)
        if self.worker_count > 0:
            _allow_worker_processes()
            dataset = dataset.mp_prefetch(
                grain.MultiprocessingOptions(
                    num_workers=self.worker_count, per_worker_buffer_size=self.worker_buffer_size
                )
            )
        return iter(dataset)
