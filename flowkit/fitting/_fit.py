"""``flowkit.fit``: train on arrays with a validation split, early stopping, best parameters."""

import json
import math
import os
import time
from pathlib import Path

import jax
import numpy as np

from .._typing import ArrayLike, PRNGKeyArray
from ..flows._flow import Flow
from ..io._format import BEST, LAST
from ..io._model import save
from ._evaluate import scores
from ._history import FitHistory
from ._split import validation_split
from ._train_parts import make_optimizer, make_step, progress_bar


def _take(array, index):
    return None if array is None else array[index]


def _conditions(flow: Flow, condition, n: int):
    if condition is None:
        if flow.cond_shape is not None:
            raise ValueError(
                f"fit: this flow is conditional; pass condition= with one condition of shape "
                f"{flow.cond_shape} per example."
            )
        return None
    condition = np.asarray(condition)
    if condition.shape != (n, *(flow.cond_shape or ())):
        raise ValueError(
            f"fit: expected one condition per example, shape ({n}, "
            f"{', '.join(map(str, flow.cond_shape or ()))}); got {condition.shape}."
        )
    return condition


def _write_run(run_dir: Path, best: Flow | None, last: Flow, history: FitHistory):
    """``best.flowkit`` (when it improved), ``last.flowkit`` and ``history.json``, atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {"epoch": history.epochs, "val_loss": history.val_loss[-1], "metric": history.metric}
    if best is not None:
        save(run_dir / BEST, best, metadata=info)
    save(run_dir / LAST, last, metadata=info)
    tmp = run_dir / ".history.json.tmp"
    tmp.write_text(json.dumps(history.to_dict(), indent=1))
    os.replace(tmp, run_dir / "history.json")


def fit(
    flow: Flow,
    data: ArrayLike,
    *,
    key: PRNGKeyArray,
    condition: ArrayLike | None = None,
    val_data: ArrayLike | None = None,
    val_condition: ArrayLike | None = None,
    val_fraction: float = 0.1,
    epochs: int = 100,
    batch_size: int = 128,
    patience: int = 10,
    learning_rate: float = 1e-3,
    optimizer=None,
    num_levels: int = 256,
    on_nonfinite: str = "skip",
    progress: bool = True,
    run_dir: str | os.PathLike | None = None,
) -> tuple[Flow, FitHistory]:
    """Fit ``flow`` to ``data`` (shape ``(N, *flow.shape)``) and return the best flow.

    A seeded ``val_fraction`` of the examples is held out (or pass ``val_data``); after every
    epoch the validation loss (NLL, or bits/dim for integer pixels dequantized with fixed
    noise) is computed, the parameters with the lowest one are kept, and training stops
    after ``patience`` epochs without improvement. Returns ``(best_flow, history)``: the
    best-by-validation flow, not the last one.

    Integer data are pixels with ``num_levels`` values, dequantized with fresh noise every
    epoch. Conditional flows take ``condition`` (one per example) and ``val_condition``.
    With ``run_dir``, every epoch writes ``last.flowkit``, ``best.flowkit`` (when it
    improved) and ``history.json`` there; ``flowkit.load(run_dir)`` reads the best.
    Optimiser, step, NaN handling (``on_nonfinite``: ``"skip"`` the update or ``"stop"``)
    and progress bar come from :mod:`flowkit.train`.
    """
    data = np.asarray(data)
    if data.ndim < 1 or tuple(data.shape[1:]) != tuple(flow.shape):
        raise ValueError(
            f"fit: expected data of shape (N, {', '.join(map(str, flow.shape))}) for a flow "
            f"on events of shape {tuple(flow.shape)}; got {data.shape}."
        )
    condition = _conditions(flow, condition, data.shape[0])
    k_split, k_train = jax.random.split(key)
    if val_data is None:
        train_idx, val_idx = validation_split(data.shape[0], val_fraction, k_split)
        val_data, val_condition = data[val_idx], _take(condition, val_idx)
        data, condition = data[train_idx], _take(condition, train_idx)
    else:
        val_data = np.asarray(val_data)
        val_condition = _conditions(flow, val_condition, val_data.shape[0])
    image = np.issubdtype(data.dtype, np.integer)
    n = data.shape[0]
    batch_size = min(batch_size, n)
    steps_per_epoch = n // batch_size  # fixed batch shapes: the remainder waits for the next epoch
    if optimizer is None:
        optimizer = make_optimizer(learning_rate, epochs * steps_per_epoch)
    step, state = make_step(flow, optimizer, image=image, num_levels=num_levels)

    def validate(model) -> float:
        if val_data.shape[0] == 0:
            return math.nan
        values, _ = scores(model, val_data, condition=val_condition, num_levels=num_levels)
        return float(values.mean())  # a non-finite example makes it inf/nan: never the best

    history = FitHistory(metric="bits/dim" if image else "nll")
    best_model, history.initial_val_loss = flow, validate(flow)
    has_val = val_data.shape[0] > 0  # without one, the last parameters are returned
    if math.isfinite(history.initial_val_loss):
        history.best_val_loss = history.initial_val_loss
    start, waited, model = time.perf_counter(), 0, flow
    bar = progress_bar(epochs * steps_per_epoch, enabled=progress)
    for epoch in range(1, epochs + 1):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(k_train, epoch), n))
        losses = []
        for b in range(steps_per_epoch):
            index = order[b * batch_size : (b + 1) * batch_size]
            step_key = jax.random.fold_in(jax.random.fold_in(k_train, epoch), b + 1)
            model, state, metrics = step(
                model, state, data[index], _take(condition, index), step_key
            )
            history.steps += 1
            loss = float(metrics["loss"])
            if math.isfinite(loss):
                losses.append(loss)
            else:
                history.skipped_steps += 1
                if on_nonfinite == "stop":
                    bar.close()
                    raise FloatingPointError(
                        f"fit: non-finite loss at epoch {epoch}, step {history.steps}; "
                        "the update was skipped and training stopped."
                    )
            bar.update(1, loss=loss)
        history.train_loss.append(float(np.mean(losses)) if losses else math.nan)
        val = validate(model)
        history.val_loss.append(val)
        bar.set_postfix(epoch=epoch, val=val)
        improved = not has_val or val < history.best_val_loss
        if improved:
            best_model, history.best_val_loss, history.best_epoch, waited = model, val, epoch, 0
        if run_dir is not None:
            history.seconds = time.perf_counter() - start
            _write_run(Path(run_dir), model if improved else None, model, history)
        if not improved:
            waited += 1
            if waited >= patience:
                history.stopped_early = True
                break
    bar.close()
    history.seconds = time.perf_counter() - start
    return best_model, history
