"""The edge of :func:`flowkit.fit`: its data checked and laid out once, before any step.

Shapes and conditions are checked, non-finite rows reported (and left out or refused), a
validation set held out or taken as given, float data cast to the flow's dtype (so float32
data train a float64 flow under ``jax_enable_x64``, and the other way round), and the loss
chosen from the data when the caller gave none.
"""

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from ..flows._flow import Flow
from ._array_batches import ArrayBatches
from ._evaluate import as_arrays, model_dtype
from ._loss_objects import NLL, AbstractLoss, BitsPerDim
from ._split import validation_split

NUM_SHOWN = 5  # row indices named in a message


@dataclasses.dataclass
class FitData:
    """What the loop trains on: endless ``batches`` (``steps_per_epoch`` of ``batch_size``
    each; ``prepare`` applied to each), the validation arrays (None: no validation) and the
    loss."""

    batches: Any
    steps_per_epoch: int
    batch_size: int
    prepare: Callable[[Any], Any] | None
    val_x: np.ndarray | None
    val_c: np.ndarray | None
    loss: AbstractLoss

    def validator(self) -> Callable[[Any], float] | None:
        """``validate(model)``: the mean validation score (None without validation data)."""
        if self.val_x is None:
            return None
        x, condition, scores = self.val_x, self.val_c, self.loss.validation_scores
        return lambda model: float(scores(model, x, condition).mean())


def is_loader(data: Any) -> bool:
    """A ``flowkit.data.Loader`` (duck-typed: importing it would import Grain)."""
    return hasattr(data, "batches_per_epoch") and hasattr(data, "iterator")


def _unpack(data) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """``(x, condition, num_levels)`` of an array, ``(x, condition)`` or an ArrayDataset."""
    if isinstance(data, tuple | list):
        if len(data) != 2:
            raise ValueError(
                f"fit: data given as a sequence must be (x, condition); got {len(data)} items."
            )
        return np.asarray(data[0]), np.asarray(data[1]), None
    x, levels = as_arrays(data)
    return x, None, levels


def _check_shapes(flow: Flow, x: np.ndarray, condition, what: str) -> None:
    if x.ndim < 1 or tuple(x.shape[1:]) != tuple(flow.shape):
        raise ValueError(
            f"fit: expected {what} of shape (N, {', '.join(map(str, flow.shape))}) for a flow on "
            f"events of shape {tuple(flow.shape)}; got {x.shape}."
        )
    if condition is None and flow.cond_shape is not None:
        raise ValueError(
            f"fit: this flow is conditional; pass {what} as (x, condition) with one condition "
            f"of shape {flow.cond_shape} per example."
        )
    if condition is not None:
        expected = (x.shape[0], *(flow.cond_shape or ()))
        if flow.cond_shape is None or condition.shape != expected:
            raise ValueError(
                f"fit: expected one condition per example of the {what}, shape {expected}; got "
                f"{condition.shape}"
                + (" (the flow takes none)." if flow.cond_shape is None else ".")
            )


def _nonfinite_rows(x: np.ndarray, condition) -> np.ndarray:
    bad = np.zeros(x.shape[0], bool)
    for a in (x, condition):
        if a is not None and np.issubdtype(a.dtype, np.floating):
            bad |= ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return np.flatnonzero(bad)


def drop_nonfinite_rows(x, condition, on_nonfinite: str, what: str):
    """``(x, condition)`` without the rows holding NaN or inf (reported once), or a
    ``ValueError`` naming them with ``on_nonfinite="stop"``."""
    rows = _nonfinite_rows(x, condition)
    if rows.size == 0:
        return x, condition
    shown = ", ".join(map(str, rows[:NUM_SHOWN])) + (", ..." if rows.size > NUM_SHOWN else "")
    message = f"fit: {rows.size} of {x.shape[0]} {what} rows hold NaN or inf (rows {shown})"
    if on_nonfinite == "stop":
        raise ValueError(f"{message}; clean them, or pass on_nonfinite='skip' to leave them out.")
    warnings.warn(f"{message}; they are left out (on_nonfinite='skip').", stacklevel=4)
    keep = np.ones(x.shape[0], bool)
    keep[rows] = False
    return x[keep], None if condition is None else condition[keep]


def _in_model_dtype(flow: Flow, a: np.ndarray | None, loss: AbstractLoss):
    """Float arrays (and integers under an NLL) in the flow's dtype; pixels stay integers."""
    if a is None or (np.issubdtype(a.dtype, np.integer) and isinstance(loss, BitsPerDim)):
        return a
    return a.astype(model_dtype(flow))


def default_loss(x: np.ndarray, num_levels: int | None) -> AbstractLoss:
    """Bits/dim for pixels (integer data, or a data set with pixel levels), else NLL."""
    if num_levels is not None or np.issubdtype(x.dtype, np.integer):
        return BitsPerDim(num_levels=num_levels or 256)
    return NLL()


def _validation(k_split, flow, x, c, validation, on_nonfinite: str):
    """``(train_x, train_c, val_x, val_c)``: a held-out fraction or the given data."""
    if isinstance(validation, float | int) and not isinstance(validation, bool):
        if validation == 0:
            return x, c, None, None
        train, val = validation_split(k_split, x.shape[0], float(validation))
        return x[train], None if c is None else c[train], x[val], None if c is None else c[val]
    val_x, val_c, _ = _unpack(validation)
    _check_shapes(flow, val_x, val_c, "validation data")
    val_x, val_c = drop_nonfinite_rows(val_x, val_c, on_nonfinite, "validation")
    return x, c, val_x, val_c


def _check_batch_size(batch_size: int, rows: int) -> None:
    if not 1 <= batch_size <= rows:
        raise ValueError(
            f"fit: batch_size {batch_size} does not fit the {rows} training rows (after the "
            f"validation split); pass 1 <= batch_size <= {rows}."
        )


def array_data(
    k_split, k_shuffle, flow, data, validation, loss, batch_size: int, on_nonfinite: str
) -> FitData:
    """:class:`FitData` of in-memory arrays; ``k_split`` draws the validation split,
    ``k_shuffle`` seeds the shuffling."""
    x, c, levels = _unpack(data)
    _check_shapes(flow, x, c, "data")
    loss = default_loss(x, levels) if loss is None else loss
    loss.check_data(x)
    x, c = drop_nonfinite_rows(x, c, on_nonfinite, "training")
    x, c, val_x, val_c = _validation(k_split, flow, x, c, validation, on_nonfinite)
    if val_x is not None:
        loss.check_data(val_x)
    _check_batch_size(batch_size, x.shape[0])
    x, c, val_x, val_c = (_in_model_dtype(flow, a, loss) for a in (x, c, val_x, val_c))
    seed = int(np.asarray(jax.random.key_data(k_shuffle)).ravel()[-1])
    arrays = (x,) if c is None else (x, c)
    batches = ArrayBatches(*arrays, batch_size=batch_size, seed=seed)
    return FitData(batches, batches.per_epoch, batch_size, None, val_x, val_c, loss)


def loader_data(flow, loader, validation, loss, on_nonfinite: str) -> FitData:
    """:class:`FitData` of a ``flowkit.data.Loader`` (its batch size, shuffling and
    dequantization into [0, 1)); validation data must be given beside it."""
    if tuple(loader.event_shape) != tuple(flow.shape):
        raise ValueError(
            f"fit: the loader gives examples of shape {tuple(loader.event_shape)} but the flow "
            f"takes events of shape {tuple(flow.shape)}; build the flow for the data (or set "
            "the loader's flatten=)."
        )
    if flow.cond_shape is not None:
        raise ValueError(
            f"fit: a Loader gives no conditions but the flow takes cond_shape "
            f"{tuple(flow.cond_shape)}; pass (x, condition) arrays for a conditional flow."
        )
    if isinstance(validation, float | int) and validation != 0:
        raise ValueError(
            "fit: a Loader's examples are all for training; pass validation=<data> (or "
            "validation=0 to train without validation)."
        )
    levels = loader.data.num_levels
    if loss is None:
        loss = NLL() if levels is None else BitsPerDim(num_levels=levels)
    val_x = val_c = None
    if not isinstance(validation, float | int):
        val_x, val_c, _ = _unpack(validation)
        _check_shapes(flow, val_x, val_c, "validation data")
        val_x, val_c = drop_nonfinite_rows(val_x, val_c, on_nonfinite, "validation")
        loss.check_data(val_x)
        val_x = _in_model_dtype(flow, val_x, loss)
    batches = loader.iterator()
    prepare = lambda batch: batch["x"]  # noqa: E731
    return FitData(
        batches, loader.batches_per_epoch, loader.batch_size, prepare, val_x, val_c, loss
    )
