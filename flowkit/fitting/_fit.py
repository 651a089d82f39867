"""``flowkit.fit``: train with a validation split, early stopping, and the best parameters.

The training itself is flowkit.train's: its default optimiser, jitted step and losses, its
shuffled batches, and its training loop (non-finite handling, progress bar), run one epoch
at a time; between epochs the validation loss decides which parameters to keep.
"""

import json
import math
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._typing import ArrayLike, PRNGKeyArray
from ..flows._flow import Flow
from ..io._format import BEST, LAST
from ..io._model import save
from ._evaluate import as_arrays, scores
from ._history import FitHistory
from ._split import validation_split


def _conditions(flow: Flow, condition, n: int, what: str = "condition"):
    if condition is None:
        if flow.cond_shape is not None:
            raise ValueError(
                f"fit: this flow is conditional; pass {what}= with one condition of shape "
                f"{flow.cond_shape} per example."
            )
        return None
    condition = np.asarray(condition)
    if condition.shape != (n, *(flow.cond_shape or ())):
        raise ValueError(
            f"fit: expected one {what} per example, shape ({n}, "
            f"{', '.join(map(str, flow.cond_shape or ()))}); got {condition.shape}."
        )
    return condition


def _hold_out(data: np.ndarray, condition: np.ndarray | None, fraction: float, key):
    """``(train_x, train_c, val_x, val_c)`` for a seeded validation split."""
    train, val = validation_split(data.shape[0], fraction, key)
    if condition is None:
        return data[train], None, data[val], None
    return data[train], condition[train], data[val], condition[val]


def _device_copy(model):
    """The train loop hands back host (numpy) copies; users get device arrays."""
    return jax.tree_util.tree_map(
        lambda x: jnp.asarray(x) if isinstance(x, np.ndarray) else x, model
    )


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
    data,
    *,
    key: PRNGKeyArray,
    condition: ArrayLike | None = None,
    val_data=None,
    val_condition: ArrayLike | None = None,
    val_fraction: float = 0.1,
    epochs: int = 100,
    batch_size: int = 128,
    patience: int = 10,
    learning_rate: float = 1e-3,
    optimizer=None,
    image: bool | None = None,
    num_levels: int | None = None,
    on_nonfinite: str = "skip",
    progress: bool = True,
    run_dir: str | os.PathLike | None = None,
) -> tuple[Flow, FitHistory]:
    """Fit ``flow`` to ``data`` and return ``(best_flow, history)``.

    ``data``: an array ``(N, *flow.shape)`` or a ``flowkit.data.ArrayDataset``. A seeded
    ``val_fraction`` of it is held out (or pass ``val_data``); after every epoch the
    validation loss is computed (NLL in nats; bits/dim for pixels, dequantized with fixed
    noise as in :func:`flowkit.evaluate`), the parameters with the lowest one are kept, and
    training stops after ``patience`` epochs without improvement. The best flow is
    returned, not the last.

    Integer data are pixels with ``num_levels`` values (default 256, or the data set's) and
    are dequantized with new noise every epoch; ``image=True`` scores float data in [0, 1]
    in bits/dim too. Conditional flows take ``condition`` (one per example; and
    ``val_condition`` beside ``val_data``). Training is flowkit.train's: by default its
    optimiser recipe (:func:`flowkit.train.default_optimizer` at ``learning_rate`` over
    ``epochs`` epochs), its step, its loop's non-finite handling (``on_nonfinite``:
    ``"skip"`` the update or ``"stop"`` with ``NonFiniteError``) and progress bar.
    With ``run_dir``, every epoch writes ``last.flowkit``, ``best.flowkit`` (when it
    improved) and ``history.json`` there; ``flowkit.load(run_dir)`` reads the best.
    """
    # imported here so that importing flowkit does not import orbax (flowkit.train's checkpoints)
    from ..train import (
        ArrayBatches,
        bits_per_dim_loss,
        default_optimizer,
        init_opt_state,
        make_step,
        nll_loss,
        train_loop,
    )

    data, levels = as_arrays(data)
    num_levels = num_levels or levels or 256
    if data.ndim < 1 or tuple(data.shape[1:]) != tuple(flow.shape):
        raise ValueError(
            f"fit: expected data of shape (N, {', '.join(map(str, flow.shape))}) for a flow "
            f"on events of shape {tuple(flow.shape)}; got {data.shape}."
        )
    if epochs < 1 or patience < 1:
        raise ValueError(f"fit: need epochs >= 1 and patience >= 1; got {epochs}, {patience}.")
    condition = _conditions(flow, condition, data.shape[0])
    k_split, k_train = jax.random.split(key)
    if val_data is None:
        data, condition, val_x, val_c = _hold_out(data, condition, val_fraction, k_split)
    else:
        val_x = as_arrays(val_data)[0]
        val_c = _conditions(flow, val_condition, val_x.shape[0], "val_condition")
    integer = np.issubdtype(data.dtype, np.integer)
    image = integer if image is None else image
    n = data.shape[0]
    batch_size = min(batch_size, n)
    steps_per_epoch = n // batch_size  # fixed batch shapes: the remainder is dropped
    if optimizer is None:
        optimizer = default_optimizer(epochs * steps_per_epoch, learning_rate=learning_rate)
    loss = bits_per_dim_loss(num_levels=num_levels) if image else nll_loss
    step = make_step(optimizer, loss)
    seed = int(np.asarray(jax.random.key_data(k_train)).ravel()[-1])
    arrays = (data,) if condition is None else (data, condition)
    batches = ArrayBatches(*arrays, batch_size=batch_size, seed=seed)

    def validate(model) -> float:
        if val_x.shape[0] == 0:
            return math.nan
        values, _ = scores(model, val_x, condition=val_c, image=image, num_levels=num_levels)
        return float(values.mean())  # a non-finite example makes it inf/nan: never the best

    history = FitHistory(metric="bits/dim" if image else "nll")
    history.initial_val_loss = validate(flow)
    has_val = val_x.shape[0] > 0  # without a validation set the last parameters are returned
    if math.isfinite(history.initial_val_loss):
        history.best_val_loss = history.initial_val_loss
    start, waited = time.perf_counter(), 0
    best, model, opt_state = flow, flow, init_opt_state(optimizer, flow)
    losses: list[float] = []  # this epoch's finite step losses
    for epoch in range(1, epochs + 1):
        losses.clear()
        result = train_loop(
            step,
            model,
            opt_state,
            batches,
            key=jax.random.fold_in(k_train, epoch),
            num_steps=steps_per_epoch,
            progress=progress,
            on_nonfinite=on_nonfinite,
            on_record=lambda r: None if r["skipped"] else losses.append(r["loss"]),
        )
        model, opt_state = _device_copy(result.model), result.opt_state
        history.steps += steps_per_epoch
        history.skipped_steps += len(result.skipped_steps)
        history.train_loss.append(float(np.mean(losses)) if losses else math.nan)
        val = validate(model)
        history.val_loss.append(val)
        improved = not has_val or val < history.best_val_loss
        if improved:
            best, history.best_val_loss, history.best_epoch, waited = model, val, epoch, 0
        else:
            waited += 1
        history.seconds = time.perf_counter() - start
        if run_dir is not None:
            _write_run(Path(run_dir), model if improved else None, model, history)
        if progress:
            print(
                f"epoch {epoch}/{epochs}: train {history.train_loss[-1]:.4f}, val {val:.4f} "
                f"{history.metric}" + (" (best)" if improved else f" ({waited}/{patience})"),
                file=sys.stderr,
                flush=True,
            )
        if waited >= patience:
            history.stopped_early = True
            break
    return best, history
