"""A loader over global step numbers, read through a Grain pipeline (``_pipeline``).

Because a batch is a pure function of its step number, the iterator state is the next
step (plus the settings that fix the batch sequence): a small JSON dict that does not
depend on the number of workers or processes, so a resumed run continues at exactly the
next batch, even with another worker count or (multi-host) another process count.
"""

import math
from typing import Any

import jax

from ._batches import BatchMaker
from ._dataset import ArrayDataset
from ._errors import DataError
from ._iterator import LoaderIterator
from ._pipeline import Pipeline


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

    Discrete data always come as dequantized values in [0, 1) (continuous data as they
    are). A model that trains in another space maps them there with a bijector inside the
    flow, so its log-determinant is counted in ``log_prob`` and bits/dim, e.g. for [-1, 1):
    ``fk.with_preprocessing(flow, fk.Rescale(flow.shape, -1.0, 1.0))``.

    Args:
        data: the examples.
        batch_size: the global batch size (all processes together), at most ``len(data)``
            and divisible by ``process_count``.
        seed: fixes the order of every epoch and the dequantization noise, in
            ``0..2**64-1``.
        num_epochs: how many epochs iteration runs; ``None`` runs endlessly.
        shuffle: ``False`` keeps the data set's order in every epoch.
        dequantize: add ``u ~ U(0, 1)`` to discrete data (``False``: 0.5).
        flatten: make ``x`` of shape ``(n, D)``.
        process_index: this process; ``None`` is ``jax.process_index()``.
        process_count: how many processes share each batch; ``None`` is
            ``jax.process_count()``.
        worker_count: Grain worker processes (0: batches are made in this process).
        worker_buffer_size: batches each worker holds (at least 1).
        prefetch: batches buffered by a thread in this process (0: none).

    Raises:
        DataError: naming the data set, for a setting out of range: ``batch_size``,
            ``process_index``, ``seed``, ``num_epochs``, or the worker and prefetch counts.
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
        flatten: bool = False,
        process_index: int | None = None,
        process_count: int | None = None,
        worker_count: int = 0,
        worker_buffer_size: int = 2,
        prefetch: int = 2,
    ):
        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
        _check_settings(data, batch_size, seed, num_epochs, process_index, process_count)
        if worker_count < 0 or worker_buffer_size < 1 or prefetch < 0:
            raise DataError(
                data.name,
                f"need worker_count >= 0, worker_buffer_size >= 1 and prefetch >= 0; got "
                f"{worker_count}, {worker_buffer_size} and {prefetch}.",
            )
        self.data = data
        maker = BatchMaker(
            data,
            batch_size,
            seed,
            shuffle,
            dequantize,
            flatten,
            process_index,
            process_count,
        )
        # The one copy of the settings: the iterator reads the same pipeline.
        self._pipeline = Pipeline(maker, num_epochs, worker_count, worker_buffer_size, prefetch)

    @property
    def maker(self) -> BatchMaker:
        """Step number -> this process's share of that batch."""
        return self._pipeline.maker

    @property
    def num_epochs(self) -> int | None:
        """How many epochs iteration runs, or ``None`` (endless)."""
        return self._pipeline.num_epochs

    @property
    def worker_count(self) -> int:
        """Grain worker processes (0: batches are made in this process)."""
        return self._pipeline.worker_count

    @property
    def worker_buffer_size(self) -> int:
        """Batches each worker holds."""
        return self._pipeline.worker_buffer_size

    @property
    def prefetch(self) -> int:
        """Batches buffered by a thread in this process."""
        return self._pipeline.prefetch

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
        """``len(data) // batch_size``: the rows left over at the end of an epoch are dropped."""
        return self._pipeline.batches_per_epoch

    @property
    def num_steps(self) -> int | None:
        """Batches in all epochs, or ``None`` when ``num_epochs`` is ``None`` (endless)."""
        return self._pipeline.num_steps

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one example of ``batch["x"]`` (flattened when ``flatten``)."""
        shape = self.data.event_shape
        return (math.prod(shape),) if self.maker.flatten else shape

    def fingerprint(self) -> dict[str, Any]:
        """The settings that fix the sequence of global batches (saved in the state).

        Returns:
            JSON values by setting name.
        """
        return self._pipeline.fingerprint()

    def batch(self, step: int) -> dict:
        """Batch number ``step`` (counting across epochs), as iteration would give it.

        Args:
            step: the batch number, in ``0..num_steps-1``.

        Returns:
            ``"x"`` float32 ``(local_batch_size, *event_shape)``, ``"index"`` and, for
            labelled data, ``"label"`` int32 ``(local_batch_size,)``.

        Raises:
            DataError: if ``step`` is negative or past the last batch.
        """
        if step < 0 or (self.num_steps is not None and step >= self.num_steps):
            last = "" if self.num_steps is None else self.num_steps - 1
            raise DataError(self.data.name, f"step {step} is outside 0..{last}.")
        return self.maker(step)

    def __iter__(self) -> LoaderIterator:
        return LoaderIterator(self._pipeline)

    def iterator(self, state: dict | bytes | str | None = None) -> LoaderIterator:
        """An iterator from the start, or from a state saved by ``get_state``.

        Args:
            state: what :meth:`LoaderIterator.get_state` returned (a dict, or its JSON text);
                ``None`` starts at the first batch.

        Returns:
            The iterator; close it (or use it in a ``with``) to end its worker processes.

        Raises:
            DataError: if the state is not a loader state or was saved with other settings.
        """
        iterator = LoaderIterator(self._pipeline)
        if state is not None:
            iterator.set_state(state)
        return iterator


def _check_settings(data, batch_size, seed, num_epochs, process_index, process_count):
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
