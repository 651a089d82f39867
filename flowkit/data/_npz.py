"""``.npz`` files: arrays saved with ``numpy.savez``.

Keys (the Keras ``mnist.npz`` convention): ``x_train``/``y_train`` and ``x_test``/``y_test``.
A file holding only training data may instead use one of ``x`` (labels ``y``), ``data`` or
``images`` (labels ``labels`` or ``y``); it has no test split (:class:`NoSplitError`). Two of
these training keys in one file are ambiguous and refused. Optional ``num_levels`` (a scalar)
declares how many levels integer data has (default 256).

- Integer ``x`` is discrete data (pixels) in ``0..num_levels-1``: ``(n, H, W)`` images gain a
  channel axis, ``(n, H, W, C)`` with C in 1..4 and flat ``(n, D)`` stay as they are.
- Float ``x`` is continuous data ``(n, ...)`` (no dequantization), stored as float32.
"""

import os
import zipfile
from pathlib import Path

import numpy as np

from ._dataset import ArrayDataset
from ._errors import DataError

# The data keys of each split, and the label keys that go with each data key.
DATA_KEYS = {"train": ("x_train", "x", "data", "images"), "test": ("x_test",)}
LABEL_KEYS = {
    "x_train": ("y_train",),
    "x_test": ("y_test",),
    "x": ("y",),
    "data": ("labels", "y"),
    "images": ("labels", "y"),
}
_ACCEPTED = (
    "x_train/y_train and x_test/y_test, or for training data only x/y, data or images/labels"
)


class NoSplitError(DataError):
    """The file holds no data for the split asked for (a test split, most often): a file of
    training data only. Callers that can do without the split catch it.

    Args:
        where: the file; kept as ``str`` in ``self.where``.
        problem: which split is missing and what the file holds; kept in ``self.problem``.
    """


def _keys_for(path: Path, split: str, keys: list[str]) -> tuple[str, str | None]:
    found = [k for k in DATA_KEYS[split] if k in keys]
    if len(found) > 1:
        raise DataError(
            path,
            f"ambiguous {split} data: the file holds {' and '.join(found)}; keep one. "
            f"Accepted keys: {_ACCEPTED}.",
        )
    if not found:
        if split == "test" and any(k in keys for k in DATA_KEYS["train"]):
            raise NoSplitError(
                path,
                f"no test split: expected the key x_test; found {keys} (training data only).",
            )
        raise NoSplitError(
            path, f"no {split} split: found the keys {keys}; accepted keys: {_ACCEPTED}."
        )
    labels = [k for k in LABEL_KEYS[found[0]] if k in keys]
    return found[0], labels[0] if labels else None


def _as_pixels(path: Path, x: np.ndarray, num_levels: int) -> np.ndarray:
    low, high = int(x.min()), int(x.max())
    if low < 0 or high >= num_levels:
        raise DataError(
            path,
            f"integer data must lie in 0..{num_levels - 1} (num_levels={num_levels}); found "
            f"values from {low} to {high}. Save a num_levels key if the data has more levels.",
        )
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim == 4 and not 1 <= x.shape[-1] <= 4:
        raise DataError(
            path,
            f"wrong shape: images must be (n, H, W) or (n, H, W, C) with 1 to 4 channels; got "
            f"{x.shape}.",
        )
    if x.ndim > 4:
        raise DataError(path, f"wrong shape: integer data of shape {x.shape} is not an image.")
    return x.astype(np.uint8 if num_levels <= 256 else np.uint16)


def read_npz(path: str | os.PathLike, split: str = "train") -> ArrayDataset:
    """One split of an ``.npz`` file as an :class:`ArrayDataset` (keys as in the module doc).

    Args:
        path: the ``.npz`` file.
        split: ``"train"`` or ``"test"``.

    Returns:
        The split: float32 features, or integer pixels with ``num_levels`` (256 unless the
        file stores ``num_levels``), ``x`` of shape ``(n, *event_shape)``.

    Raises:
        DataError: naming the file, if it is missing, not an ``.npz``, holds no such split
            (:class:`NoSplitError`), or holds arrays of the wrong kind or shape.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file.")
    if not zipfile.is_zipfile(path):
        raise DataError(path, "not an .npz file (no zip archive); save arrays with np.savez.")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            keys = sorted(arrays.files)
            x_key, y_key = _keys_for(path, split, keys)
            x = arrays[x_key]
            y = arrays[y_key] if y_key is not None else None
            num_levels = int(arrays["num_levels"]) if "num_levels" in keys else 256
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise DataError(path, f"not a readable .npz file ({error}).") from None
    except ValueError as error:  # object arrays need pickle, which is refused
        raise DataError(path, f"not image or feature data ({error}).") from None
    if x.dtype.kind not in "uif" or x.ndim < 2 or x.shape[0] == 0:
        raise DataError(
            path,
            f"not image or feature data: {x_key} must be a numeric array of shape (n, ...) "
            f"with n >= 1 examples; got {x.dtype} of shape {x.shape}.",
        )
    if y is not None and (y.dtype.kind not in "ui" or y.shape != (len(x),)):
        raise DataError(
            path,
            f"wrong shape: {y_key} must hold one integer label per example, shape "
            f"({len(x)},); got {y.dtype} of shape {y.shape}.",
        )
    labels = None if y is None else y.astype(np.int32)
    name = f"{path} ({x_key})"
    if x.dtype.kind == "f":
        return ArrayDataset(x.astype(np.float32), labels, None, name)
    return ArrayDataset(_as_pixels(path, x, num_levels), labels, num_levels, name)
