"""Which examples make up each batch, and how a batch is computed from its step number.

Global batch ``b`` of epoch ``e`` holds rows ``order(seed, e)[b*B:(b+1)*B]`` of the data
(``B`` the global batch size; the rows left over at the end of an epoch are dropped, and
differ each epoch). Process ``p`` of ``P`` takes positions ``[p*B/P, (p+1)*B/P)`` of it.
Dequantization noise of row ``r`` in epoch ``e`` depends on ``(seed, e, r)`` only. So the
sequence of global batches is the same whatever the number of processes or workers.
"""

import dataclasses

import numpy as np

from ._dataset import ArrayDataset
from ._random import epoch_order, uniform_noise

# The largest float32 below 1: (levels - 1 + u) / levels can round up to 1.0 in float32.
_BELOW_ONE = np.nextafter(np.float32(1.0), np.float32(0.0))


def global_batch_rows(
    num_examples: int, batch_size: int, seed: int, step: int, *, shuffle: bool = True
) -> np.ndarray:
    """Row indices of global batch number ``step``, counting across epochs.

    Args:
        num_examples: rows in the data set.
        batch_size: the global batch size.
        seed: fixes each epoch's order.
        step: the batch number; its epoch is ``step // (num_examples // batch_size)``.
        shuffle: ``False`` keeps the data set's order in every epoch.

    Returns:
        Row indices, shape ``(batch_size,)``.
    """
    epoch, batch = divmod(step, num_examples // batch_size)
    if shuffle:
        order = epoch_order(seed, epoch, num_examples)
    else:
        order = np.arange(num_examples)
    return order[batch * batch_size : (batch + 1) * batch_size]


def process_share(rows: np.ndarray, process_index: int, process_count: int) -> np.ndarray:
    """Process ``p``'s contiguous share of a global batch: positions ``[p*n/P, (p+1)*n/P)``.

    Args:
        rows: the global batch's row indices, shape ``(n,)``, ``n`` divisible by ``P``.
        process_index: ``p``.
        process_count: ``P``.

    Returns:
        Shape ``(n // P,)``.
    """
    size = len(rows) // process_count
    return rows[process_index * size : (process_index + 1) * size]


@dataclasses.dataclass(frozen=True)
class BatchMaker:
    """Step number -> this process's share of that global batch, as a dict of numpy arrays:

    - ``"x"``: float32 ``(n, *event_shape)`` (``(n, D)`` when flattened). Discrete data
      become ``(x + u) / num_levels`` in [0, 1) (``u ~ U(0, 1)``, or 0.5 without
      dequantization); continuous data pass as they are.
    - ``"label"``: int32 ``(n,)`` when the data set has labels.
    - ``"index"``: int32 ``(n,)``, the rows of the data set in this batch.

    Picklable, so Grain can send it to worker processes. Settings are checked by the
    :class:`~flowkit.data.Loader`.

    Args:
        data: the examples.
        batch_size: the global batch size.
        seed: fixes each epoch's order and noise.
        shuffle: ``False`` keeps the data set's order.
        dequantize: add ``u ~ U(0, 1)`` to discrete data (``False``: 0.5).
        flatten: make ``"x"`` of shape ``(n, D)``.
        process_index: this process.
        process_count: how many processes share each batch.
    """

    data: ArrayDataset
    batch_size: int
    seed: int
    shuffle: bool
    dequantize: bool
    flatten: bool
    process_index: int
    process_count: int

    def rows(self, step: int) -> np.ndarray:
        """The rows of the data set in this process's share of batch ``step``.

        Args:
            step: the batch number, counting across epochs.

        Returns:
            Row indices, shape ``(batch_size // process_count,)``.
        """
        rows = global_batch_rows(
            len(self.data), self.batch_size, self.seed, step, shuffle=self.shuffle
        )
        return process_share(rows, self.process_index, self.process_count)

    def _values(self, step: int, rows: np.ndarray) -> np.ndarray:
        data = self.data
        x = data.x[rows].reshape(len(rows), -1)
        if data.num_levels is not None:
            if self.dequantize:
                epoch = step // (len(data) // self.batch_size)
                offset = uniform_noise(self.seed, epoch, rows, x.shape[1])
            else:
                offset = np.float32(0.5)
            y = (x.astype(np.float32) + offset) / np.float32(data.num_levels)
            x = np.minimum(y, _BELOW_ONE)  # keep [0, 1) open at 1 (see _BELOW_ONE)
        return x if self.flatten else x.reshape(len(rows), *data.event_shape)

    def __call__(self, step: int) -> dict[str, np.ndarray]:
        rows = self.rows(step)
        batch = {"x": self._values(step, rows), "index": rows.astype(np.int32)}
        if self.data.labels is not None:
            batch["label"] = self.data.labels[rows]
        return batch
