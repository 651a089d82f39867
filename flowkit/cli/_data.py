"""Data for the command line: a named data set or a path, shaped for a model."""

import dataclasses
import math
from collections.abc import Callable

import jax
import numpy as np

from flowkit.data import ArrayDataset, NoSplitError, load_dataset

from ._errors import UserError


def shaped_for(data: ArrayDataset, model_shape: tuple[int, ...]) -> ArrayDataset:
    """``data`` with its events reshaped to ``model_shape`` (images flattened for vector models).

    Args:
        data: examples of shape ``(n, *event_shape)``.
        model_shape: the model's event shape.

    Returns:
        ``data`` itself, or with ``x`` of shape ``(n, *model_shape)``.

    Raises:
        UserError: naming both shapes when they cannot match.
    """
    event = data.event_shape
    if event == tuple(model_shape):
        return data
    if len(model_shape) == 1 and math.prod(event) == model_shape[0]:
        x = data.x.reshape(len(data), model_shape[0])
        return dataclasses.replace(data, x=x)
    raise UserError(
        f"the model takes events of shape {tuple(model_shape)} but {data.name} has events of "
        f"shape {event}; give the data the model was trained on."
    )


def subset(data: ArrayDataset, rows: np.ndarray, name: str) -> ArrayDataset:
    """Some rows of ``data`` (and of its labels).

    Args:
        data: examples of shape ``(n, *event_shape)``.
        rows: row indices, shape ``(m,)``.
        name: the subset's name, for messages.

    Returns:
        ``x`` of shape ``(m, *event_shape)``.
    """
    labels = None if data.labels is None else data.labels[rows]
    return ArrayDataset(data.x[rows], labels, data.num_levels, name)


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """The training, validation and test splits of a data set, shaped for a model.

    ``test`` is None for a file of training data only (an ``.npz`` with ``x``, ``data`` or
    ``images``): the run then has no test score, and ``flowkit eval RUN --data FILE`` scores
    held-out data later.

    Args:
        train: the training split less the validation share.
        val: the validation share, or None when it is empty.
        test: the test split, or None.
        data_shape: one example as the data set stores it, e.g. ``(8, 8, 1)``.
    """

    train: ArrayDataset
    val: ArrayDataset | None
    test: ArrayDataset | None
    data_shape: tuple[int, ...]  # one example as the data set stores it, e.g. (8, 8, 1)


def training_data(
    name: str,
    model_shape_for: Callable[[tuple[int, ...]], tuple[int, ...]],
    val_fraction: float,
    key: jax.Array,
) -> TrainingData:
    """``name``'s train split less a seeded validation share, and its test split.

    For a single IDX file, the test split is the file itself; for an ``.npz`` of training
    data only, None.

    Args:
        name: a data set name or path, as :func:`~flowkit.data.load_dataset` takes it.
        model_shape_for: the data's event shape to the model's event shape.
        val_fraction: the validation share of the training split, in [0, 1).
        key: draws the validation rows.

    Returns:
        The splits, shaped for the model.

    Raises:
        UserError: if ``val_fraction`` is out of range or leaves no training rows, or the
            data cannot take the model's shape.
        DataError: if the data set cannot be loaded.
    """
    full = load_dataset(name, "train")
    model_shape = model_shape_for(full.event_shape)
    try:
        test = load_dataset(name, "test")
    except NoSplitError:
        test = None
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"--val-fraction must be in [0, 1); got {val_fraction}")
    from flowkit.train import validation_split

    try:
        train_rows, val_rows = validation_split(key, len(full), val_fraction)
    except ValueError as error:
        raise UserError(str(error)) from None
    train = shaped_for(subset(full, train_rows, f"{name} (train)"), model_shape)
    val = None
    if len(val_rows):
        val = shaped_for(subset(full, val_rows, f"{name} (validation)"), model_shape)
    test = None if test is None else shaped_for(test, model_shape)
    return TrainingData(train, val, test, full.event_shape)
