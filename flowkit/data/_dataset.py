"""An in-memory data set: the examples as one array, optional labels, and what the values mean."""

import dataclasses

import numpy as np

from ._errors import DataError


@dataclasses.dataclass(frozen=True)
class ArrayDataset:
    """One split of a data set, held in memory.

    Args:
        x: the examples, shape ``(n, *event_shape)``. Discrete data (pixels) are unsigned
            integers in ``0..num_levels-1``, images as ``(n, H, W, C)``; continuous data (the
            2-D toys, float arrays from ``.npz``) are float32 and ``num_levels`` is ``None``.
        labels: int32 class labels, shape ``(n,)``, or ``None``.
        num_levels: number of discrete values per entry (256 for 8-bit pixels, 17 for the
            8x8 digits), or ``None`` for continuous data. The loader dequantizes discrete
            data as ``(x + u) / num_levels``, ``u ~ U(0, 1)``; ``flowkit.bits_per_dim``
            takes the same ``num_levels``.
        name: where the data came from, for messages (``"digits (train)"`` or a path).

    Raises:
        DataError: if ``x`` is not ``(n, ...)`` with ``n >= 1``, continuous data are not
            float32, discrete data are not unsigned integers below ``num_levels``, or the
            labels are not one per example.
    """

    x: np.ndarray
    labels: np.ndarray | None
    num_levels: int | None
    name: str

    def __post_init__(self):
        x = self.x
        if x.ndim < 2 or x.shape[0] < 1:
            raise DataError(
                self.name,
                f"expected examples of shape (n, ...) with n >= 1 and at least one value "
                f"each; got an array of shape {x.shape}.",
            )
        if self.num_levels is None:
            if x.dtype != np.float32:
                raise DataError(self.name, f"continuous data must be float32; got {x.dtype}.")
        else:
            if x.dtype.kind != "u" or self.num_levels < 2:
                raise DataError(
                    self.name,
                    f"discrete data must be unsigned integers with num_levels >= 2; got "
                    f"{x.dtype} with num_levels={self.num_levels}.",
                )
            top = int(x.max())
            if top >= self.num_levels:
                raise DataError(
                    self.name,
                    f"values must lie in 0..{self.num_levels - 1} (num_levels="
                    f"{self.num_levels}); found {top}.",
                )
        if self.labels is not None and self.labels.shape != (x.shape[0],):
            raise DataError(
                self.name,
                f"expected one label per example, shape ({x.shape[0]},); got labels of shape "
                f"{self.labels.shape}.",
            )

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one example, e.g. ``(28, 28, 1)`` or ``(2,)``."""
        return tuple(self.x.shape[1:])

    @property
    def is_discrete(self) -> bool:
        """Whether the values are discrete levels (pixels), to be dequantized for training."""
        return self.num_levels is not None
