"""The Grain pipeline: a loader over global step numbers, and its checkpointable iterator.

Pipeline (Grain's dataset API)::

    MapDataset.range(start, stop)           global step numbers
      .map(BatchMaker)                      step -> this process's share of that batch
      .to_iter_dataset(ReadOptions)         in-order, prefetched in threads
      .mp_prefetch(MultiprocessingOptions)  optional worker processes, still in order

Because a batch is a pure function of its step number, the iterator state is the next
step (plus the settings that fix the batch sequence): a small JSON dict that does not
depend on the number of workers or processes, so a resumed run continues at exactly the
next batch, even with another worker count or (multi-host) another process count.
"""

import math
import sys
from typing import Any

import grain
import jax

from ._batches import SCALES, BatchMaker
from ._dataset import ArrayDataset
from ._errors import DataError
from ._iterator import LoaderIterator


def _allow_worker_processes() -> None:
    # grain 0.2.18 reads an absl flag when starting workers and fails if absl never parsed
    # flags (scripts without absl.app); fixed upstream (google/grain#1355). Mark them parsed.
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


class Loader:
    """Batches of an :class:`ArrayDataset` for training, through a Grain pipeline.

    Every epoch visits the examples in a new order fixed by ``seed``; ``batch_size`` is the
    GLOBAL batch size and each epoch has ``len(data) // batch_size`` batches (the rest is
    dropped). Discrete data are dequantized with noise that is new every epoch yet a
    function of ``(seed, epoch, example)``. Each process (``process_index`` of
    ``process_count``, default JAX's) gets its contiguous share of every global batch:
    ``batch_size // process_count`` examples. Batches are dicts of numpy arrays, see
    :class:`~flowkit.data._batches.BatchMaker`: ``"x"`` float32 ``(n, *event_shape)``,
    ``"index"`` and, for labelled data, ``"label"`` int32 ``(n,)``.

    ``scale``: "unit" gives [0, 1), "signed" gives [-1, 1) (then ``data_range`` is 2 for
    :func:`flowkit.bits_per_dim`). ``flatten`` makes ``x`` ``(n, D)``. ``worker_count``
    worker processes each hold ``worker_buffer_size`` batches; ``prefetch`` batches are
    buffered by a thread in this process (0: none).
    """

    def __init__(
        self,
        data: ArrayDataset,
        *,
        batch_size: int,
        seed: int = 0,
        num_epochs: int | None = None,
        shuffle: bool = True,
        dequantize: bool = True,
        scale: str = "unit",
        flatten: bool = False,
        process_index: int | None = None,
        process_count: int | None = None,
        worker_count: int = 0,
        worker_buffer_size: int = 2,
        prefetch: int = 2,
    ):
        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
        _check_settings(data, batch_size, seed, num_epochs, scale, process_index, process_count)
        if worker_count < 0 or worker_buffer_size < 1 or prefetch < 0:
            raise DataError(
                data.name,
                f"need worker_count >= 0, worker_buffer_size >= 1 and prefetch >= 0; got "
                f"{worker_count}, {worker_buffer_size} and {prefetch}.",
            )
        self.data = data
        self.num_epochs = num_epochs
        self.worker_count = worker_count
        self.worker_buffer_size = worker_buffer_size
        self.prefetch = prefetch
        self.maker = BatchMaker(
            data,
            batch_size,
            seed,
            shuffle,
            dequantize,
            scale,
            flatten,
            process_index,
            process_count,
        )

    @property
    def batch_size(self) -> int:
        """The global batch size (all processes together)."""
        return self.maker.batch_size

    @property
    def local_batch_size(self) -> int:
        """Examples per batch in this process: ``batch_size // process_count``."""
        return self.maker.batch_size // self.maker.process_count

    @property
    def batches_per_epoch(self) -> int:
        return len(self.data) // self.batch_size

    @property
    def num_steps(self) -> int | None:
        """Batches in all epochs, or ``None`` when ``num_epochs`` is ``None`` (endless)."""
        return None if self.num_epochs is None else self.num_epochs * self.batches_per_epoch

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one example of ``batch["x"]`` (flattened when ``flatten``)."""
        shape = self.data.event_shape
        return (math.prod(shape),) if self.maker.flatten else shape

    @property
    def data_range(self) -> float:
        """Length of the interval the data fill: 1 for "unit", 2 for "signed"."""
        return 2.0 if self.maker.scale == "signed" else 1.0

    def fingerprint(self) -> dict[str, Any]:
        """The settings that fix the sequence of global batches (saved in the state)."""
        m = self.maker
        return {
            "num_examples": len(self.data),
            "event_shape": list(self.data.event_shape),
            "num_levels": self.data.num_levels,
            "batch_size": m.batch_size,
            "seed": m.seed,
            "shuffle": m.shuffle,
            "dequantize": m.dequantize,
            "scale": m.scale,
            "flatten": m.flatten,
        }

    def batch(self, step: int) -> dict:
        """Batch number ``step`` (counting across epochs), as iteration would give it."""
        if step < 0 or (self.num_steps is not None and step >= self.num_steps):
            last = "" if self.num_steps is None else self.num_steps - 1
            raise DataError(self.data.name, f"step {step} is outside 0..{last}.")
        return self.maker(step)

    def __iter__(self) -> LoaderIterator:
        return LoaderIterator(self)

    def iterator(self, state: dict | bytes | str | None = None) -> LoaderIterator:
        """An iterator from the start, or from a state saved by ``get_state``."""
        iterator = LoaderIterator(self)
        if state is not None:
            iterator.set_state(state)
        return iterator

    def _grain_iterator(self, start: int) -> grain.DatasetIterator:
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


def _check_settings(data, batch_size, seed, num_epochs, scale, process_index, process_count):
    if not 1 <= batch_size <= len(data):
        raise DataError(
            data.name,
            f"batch_size must be between 1 and the {len(data)} examples; got {batch_size}.",
        )
    if not 0 <= process_index < process_count:
        raise DataError(
            data.name, f"process_index {process_index} is outside 0..{process_count - 1}."
        )
    if batch_size % process_count:
        raise DataError(
            data.name,
            f"the global batch of {batch_size} does not split over {process_count} processes; "
            f"choose a batch size divisible by {process_count}.",
        )
    if not 0 <= seed < 2**64:
        raise DataError(data.name, f"seed must be in 0..2**64-1; got {seed}.")
    if num_epochs is not None and num_epochs < 1:
        raise DataError(data.name, f"num_epochs must be >= 1 or None; got {num_epochs}.")
    if scale not in SCALES:
        raise DataError(data.name, f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}.")
