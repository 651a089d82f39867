"""Evaluate a flow on a data set: per-example NLL or bits/dim under jit, then a summary."""

import math
from typing import Any

import equinox as eqx
import jax
import numpy as np

from .._typing import ArrayLike
from ..flows._flow import Flow
from ..flows._image_data import bits_per_dim, dequantize
from ._stats import Evaluation, summarize


def as_arrays(data: Any) -> tuple[np.ndarray, int | None]:
    """``(x, num_levels)`` of an array (levels unknown) or a ``flowkit.data.ArrayDataset``."""
    # duck-typed, so that importing flowkit does not import the data pipeline (Grain)
    if hasattr(data, "x") and hasattr(data, "num_levels") and hasattr(data, "event_shape"):
        return np.asarray(data.x), data.num_levels
    return np.asarray(data), None


def model_dtype(flow: Flow) -> np.dtype:
    """The dtype data take before they meet ``flow`` (:attr:`Flow.dtype`; float32 for a
    flow without floating-point arrays)."""
    return flow.dtype or np.dtype(np.float32)


@eqx.filter_jit
def _batch_scores(flow, x, condition, index, key, image: bool, num_levels: int):
    """Scores of one fixed-shape batch: bits/dim (images) or NLL in nats."""
    if key is not None:  # integer pixels: dequantize example i with fold_in(key, i)
        dtype = model_dtype(flow)
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(index)
        x = jax.vmap(lambda k, xi: dequantize(k, xi, num_levels=num_levels, dtype=dtype))(keys, x)
    log_prob = flow.log_prob(x, condition)
    if image:
        return bits_per_dim(log_prob, math.prod(flow.shape), num_levels=num_levels)
    return -log_prob


def _check_unit_interval(data: np.ndarray) -> None:
    """Float images are scored as pixels dequantized into [0, 1]: bits/dim of data on any
    other range would be off by ``log2`` of its width (1 bit/dim for [-1, 1])."""
    low, high = float(np.min(data)), float(np.max(data))
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"evaluate: float images must be in [0, 1] (dequantized pixels) to be scored in "
            f"bits/dim; these range over [{low:.3g}, {high:.3g}]. Score the data in [0, 1] "
            "and put the rescaling inside the flow (flowkit.Rescale, or the image factories' "
            "rescale=), so its log-determinant is counted."
        )


def _per_example_condition(flow: Flow, condition, n: int):
    if condition is None:
        return None
    condition = np.asarray(condition)
    if np.issubdtype(condition.dtype, np.floating):
        condition = condition.astype(model_dtype(flow))
    if flow.cond_shape is not None and condition.shape == tuple(flow.cond_shape):
        condition = np.broadcast_to(condition, (n, *condition.shape))
    if condition.shape[0] != n:
        raise ValueError(
            f"evaluate: got {n} examples but {condition.shape[0]} conditions; pass one "
            f"condition of shape {flow.cond_shape} or one per example."
        )
    return condition


def scores(
    flow: Flow,
    data: Any,
    *,
    condition: ArrayLike | None = None,
    batch_size: int = 256,
    image: bool | None = None,
    num_levels: int | None = None,
    seed: int = 0,
    num_draws: int = 1,
) -> tuple[np.ndarray, str]:
    """Per-example scores of every draw and the metric name (the work of :func:`evaluate`).

    Args:
        flow: the flow to score under.
        data: an array ``(N, *flow.shape)`` or a ``flowkit.data.ArrayDataset``.
        condition: as in :func:`evaluate`.
        batch_size: as in :func:`evaluate`.
        image: as in :func:`evaluate`.
        num_levels: as in :func:`evaluate`.
        seed: as in :func:`evaluate`.
        num_draws: as in :func:`evaluate`.

    Returns:
        ``(values, metric)``: the scores, shape ``(num_draws, N)`` (float64), and
        ``"bits/dim"`` or ``"nll"``.

    Raises:
        ValueError: as :func:`evaluate`.
    """
    data, levels = as_arrays(data)
    num_levels = num_levels or levels or 256
    if data.ndim < 1 or data.shape[0] == 0 or tuple(data.shape[1:]) != tuple(flow.shape):
        raise ValueError(
            f"evaluate: expected data of shape (N, {', '.join(map(str, flow.shape))}) with "
            f"N >= 1 (the flow's event shape {tuple(flow.shape)}); got {data.shape}."
        )
    integer = np.issubdtype(data.dtype, np.integer)
    image = integer if image is None else image
    if integer and not image:
        raise ValueError("evaluate: integer data are pixels; use image=True (or None).")
    if num_draws < 1 or (num_draws > 1 and not integer):
        raise ValueError(
            f"evaluate: num_draws={num_draws}; several draws need integer pixels to "
            "dequantize (float data are scored as they are, once)."
        )
    if image and not integer:
        _check_unit_interval(data)
    if integer and data.size and (data.min() < 0 or data.max() >= num_levels):
        raise ValueError(
            f"evaluate: integer data are pixels in 0..{num_levels - 1}; these range over "
            f"[{data.min()}, {data.max()}]. Pass num_levels=, or float data to score them as "
            "numbers (NLL)."
        )
    if not integer:
        data = data.astype(model_dtype(flow))  # float32 data score a float64 flow, and back
    n = data.shape[0]
    condition = _per_example_condition(flow, condition, n)
    flow = eqx.nn.inference_mode(flow)  # e.g. batch-norm layers use their running statistics
    size = min(batch_size, n)
    out = np.empty((num_draws, n), np.float64)
    for draw in range(num_draws):
        key = jax.random.fold_in(jax.random.key(seed), draw) if integer else None
        for start in range(0, n, size):
            # fixed batch shape: pad the last batch with its first example, drop it after
            index = np.arange(start, start + size)
            count = int(min(size, n - start))
            index[count:] = start
            cond = None if condition is None else condition[index]
            batch = _batch_scores(flow, data[index], cond, index, key, image, num_levels)
            out[draw, start : start + count] = np.asarray(batch)[:count]
    return out, "bits/dim" if image else "nll"


def evaluate(
    flow: Flow,
    data: Any,
    *,
    condition: ArrayLike | None = None,
    batch_size: int = 256,
    image: bool | None = None,
    num_levels: int | None = None,
    seed: int = 0,
    num_draws: int = 1,
    num_worst: int = 10,
) -> Evaluation:
    """Score ``data`` under ``flow`` and summarise.

    Integer data are pixels with ``num_levels`` values: each is dequantized into [0, 1)
    with fixed noise (example ``i`` of draw ``d`` uses
    ``fold_in(fold_in(key(seed), d), i)``, so results do not depend on ``batch_size``) and
    scored in bits/dim. Float data are scored as they are: NLL in nats, or bits/dim of data
    already in [0, 1] with ``image=True`` (other ranges are refused: a flow trained on
    rescaled data holds the rescaling as a bijector, e.g. :class:`flowkit.Rescale`, and
    takes [0, 1]). Batches of a fixed shape run under ``jit`` (the last one padded, the
    padding dropped); the flow is put in inference mode.

    Args:
        flow: the flow to score under.
        data: an array, shape ``(N, *flow.shape)``, or a ``flowkit.data.ArrayDataset``.
        condition: for a conditional flow, one condition of shape ``flow.cond_shape``
            shared by all examples, or one per example, shape ``(N, *flow.cond_shape)``.
        batch_size: examples per compiled batch (does not change the scores).
        image: score in bits/dim; None: for integer data only.
        num_levels: pixel values of integer data; None: the data set's, else 256.
        seed: seeds the dequantization noise.
        num_draws: dequantization draws per example (integer data only); each example's
            bits/dim is averaged over them.
        num_worst: how many indices of the worst examples to keep.

    Returns:
        An :class:`Evaluation`: the per-example scores, shape ``(N,)``, their mean,
        standard error, median, 1st/99th percentiles, the ``num_worst`` worst indices and
        the non-finite count.

    Raises:
        ValueError: data not of shape ``(N, *flow.shape)`` with ``N >= 1``; integer data
            with ``image=False`` or outside ``0..num_levels-1``; float images outside
            [0, 1]; ``num_draws > 1`` for float data; conditions not one per example.
    """
    values, metric = scores(
        flow,
        data,
        condition=condition,
        batch_size=batch_size,
        image=image,
        num_levels=num_levels,
        seed=seed,
        num_draws=num_draws,
    )
    return summarize(values.mean(axis=0), metric, num_worst=num_worst, num_draws=num_draws)
