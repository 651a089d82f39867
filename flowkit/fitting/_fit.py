"""``flowkit.fit``: train with a validation split, early stopping, and the best parameters.

The training itself is flowkit.train's: its default optimiser, jitted steps (one device,
pmap or sharded) and losses, its shuffled batches or the Grain data pipeline, its training
loop (non-finite handling, progress bar) and its orbax checkpoints, run one epoch at a time;
between epochs the validation loss decides which parameters to keep. ``flowkit train`` is
this function behind a command line.
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
from ..bijectors._stack import with_unroll
from ..flows._flow import Flow
from ..io._format import BEST, LAST
from ..io._model import load, save
from ._evaluate import as_arrays, scores
from ._fit_resume import CHECKPOINTS, METRICS, EpochCheckpoints, FitState, clear_run
from ._fit_steps import (
    array_batches,
    batch_norm_update,
    chain,
    initial_actnorm,
    is_loader,
    loader_batches,
    make_parallel_step,
    with_memory,
    with_noise,
)
from ._history import FitHistory
from ._split import validation_split

MEMORY_MODES = ("standard", "remat", "invertible")
HISTORY = "history.json"


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


def _hold_out(key, data: np.ndarray, condition: np.ndarray | None, fraction: float):
    """``(train_x, train_c, val_x, val_c)`` for a seeded validation split."""
    train, val = validation_split(key, data.shape[0], fraction)
    if condition is None:
        return data[train], None, data[val], None
    return data[train], condition[train], data[val], condition[val]


def _device_copy(model):
    """The train loop hands back host (numpy) copies; users get device arrays."""
    return jax.tree_util.tree_map(
        lambda x: jnp.asarray(x) if isinstance(x, np.ndarray) else x, model
    )


def _write_run(run_dir: Path, best: Flow | None, last: Flow, history: FitHistory, extra: dict):
    """``best.flowkit`` (when given), ``last.flowkit`` and ``history.json``, atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {
        **extra,
        "epoch": history.epochs,
        "val_loss": history.val_loss[-1],
        "metric": history.metric,
    }
    if best is not None:
        save(run_dir / BEST, best, metadata=info)
    save(run_dir / LAST, last, metadata=info)
    tmp = run_dir / ".history.json.tmp"
    tmp.write_text(json.dumps(history.to_dict(), indent=1))
    os.replace(tmp, run_dir / HISTORY)


def _check_options(flow, epochs, patience, max_steps, memory, resume, run_dir, checkpoint_every):
    if epochs < 1 or patience < 1 or (max_steps is not None and max_steps < 1):
        raise ValueError(
            f"fit: need epochs >= 1, patience >= 1 and max_steps >= 1 (or None); got "
            f"{epochs}, {patience}, {max_steps}."
        )
    if memory not in MEMORY_MODES:
        raise ValueError(f"fit: unknown memory {memory!r}; choose one of {MEMORY_MODES}.")
    if resume and run_dir is None:
        raise ValueError("fit: resume=True continues the run in run_dir=; pass run_dir.")
    if checkpoint_every < 1:
        raise ValueError(f"fit: checkpoint_every must be >= 1; got {checkpoint_every}.")
    del flow


def _data_and_validation(
    flow,
    data,
    condition,
    val_data,
    val_condition,
    val_fraction,
    k_split,
    k_train,
    *,
    batch_size,
    image,
    num_levels,
):
    """``(batches, val_x, val_c, image, num_levels)`` for arrays or a Loader; ``k_split``
    draws the validation split, ``k_train`` the shuffling seed."""
    if is_loader(data):
        if val_data is None and val_fraction > 0:
            raise ValueError(
                "fit: a Loader's examples are all for training; pass val_data= (or "
                "val_fraction=0 to train without validation)."
            )
        batches = loader_batches(data, flow)
        levels = data.data.num_levels
        image = (levels is not None) if image is None else image
        num_levels = num_levels or levels or 256
        val_x = np.zeros((0, *flow.shape), np.float32) if val_data is None else None
        val_c = None
    else:
        data, levels = as_arrays(data)
        num_levels = num_levels or levels or 256
        if data.ndim < 1 or tuple(data.shape[1:]) != tuple(flow.shape):
            raise ValueError(
                f"fit: expected data of shape (N, {', '.join(map(str, flow.shape))}) for a "
                f"flow on events of shape {tuple(flow.shape)}; got {data.shape}."
            )
        condition = _conditions(flow, condition, data.shape[0])
        val_x = val_c = None
        if val_data is None:
            data, condition, val_x, val_c = _hold_out(k_split, data, condition, val_fraction)
        integer = np.issubdtype(data.dtype, np.integer)
        image = integer if image is None else image
        seed = int(np.asarray(jax.random.key_data(k_train)).ravel()[-1])
        batches = array_batches(
            data,
            condition,
            batch_size=min(batch_size, data.shape[0]),
            seed=seed,
            image=image,
            num_levels=num_levels,
        )
    if val_x is None:
        val_x = as_arrays(val_data)[0]
        val_c = _conditions(flow, val_condition, val_x.shape[0], "val_condition")
    return batches, val_x, val_c, image, num_levels


def _epoch_losses(run_dir: Path | None, offset: int, upto: int) -> list[dict]:
    """The step records of the current epoch before a resume point (from the metrics file)."""
    if run_dir is None or upto <= offset or not (run_dir / METRICS).exists():
        return []
    from ..train import read_metrics

    return [r for r in read_metrics(run_dir / METRICS) if offset < r["step"] <= upto]


def fit(
    key: PRNGKeyArray,
    flow: Flow,
    data,
    *,
    condition: ArrayLike | None = None,
    val_data=None,
    val_condition: ArrayLike | None = None,
    val_fraction: float = 0.1,
    epochs: int = 100,
    max_steps: int | None = None,
    batch_size: int = 128,
    patience: int = 10,
    learning_rate: float = 1e-3,
    optimizer=None,
    image: bool | None = None,
    num_levels: int | None = None,
    on_nonfinite: str = "skip",
    progress: bool = True,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    checkpoint_every: int = 1000,
    parallel: str = "jit",
    devices: int | None = None,
    memory: str = "standard",
    unroll: int | bool | str | None = None,
    data_init: bool = False,
    ema_decay: float | None = None,
    noise_std: float = 0.0,
    metadata: dict | None = None,
) -> tuple[Flow, FitHistory]:
    """Fit ``flow`` to ``data`` and return ``(best_flow, history)``.

    ``key`` (first, as in every flowkit function that draws) seeds the validation split,
    the shuffling and the dequantization noise.

    ``data``: an array ``(N, *flow.shape)``, a ``flowkit.data.ArrayDataset`` or a
    ``flowkit.data.Loader`` (the Grain pipeline: its batch size, shuffling and
    dequantization; pass ``val_data`` beside it). A seeded ``val_fraction`` of array data is
    held out (or pass ``val_data``); after every epoch the validation loss is computed (NLL
    in nats; bits/dim for pixels, dequantized with fixed noise as in
    :func:`flowkit.evaluate`), the parameters with the lowest one are kept, and training
    stops after ``patience`` epochs without improvement (or after ``epochs``, or
    ``max_steps`` steps in all). The best flow is returned, not the last.

    Integer data are pixels with ``num_levels`` values (default 256, or the data set's) and
    are dequantized with new noise every epoch; ``image=True`` scores float data in [0, 1]
    in bits/dim too. Conditional flows take ``condition`` (one per example; and
    ``val_condition`` beside ``val_data``). Training is flowkit.train's: by default its
    optimiser recipe (:func:`flowkit.train.default_optimizer` at ``learning_rate`` over the
    run's steps), its step -- on one device (``parallel="jit"``), ``"pmap"`` over the local
    devices or ``"shard"``-ed over ``devices`` of them -- with gradients taken the
    ``memory`` way (``"standard"``, ``"remat"``, ``"invertible"``), its loop's non-finite
    handling (``on_nonfinite``: ``"skip"`` the update or ``"stop"`` with ``NonFiniteError``)
    and progress bar. ``unroll`` (when given) sets how every :class:`flowkit.Stack` in the
    flow loops, as :func:`flowkit.with_unroll` does; the flow returned keeps it.

    Image recipes: ``data_init=True`` first initialises the ActNorm layers on up to 512
    training examples (:func:`flowkit.data_init`); ``ema_decay`` (e.g. 0.999) keeps an
    exponential moving average of the parameters, which is what is validated, kept and
    returned; ``noise_std`` trains on the data plus fresh Gaussian noise (TarFlow's recipe;
    validation scores the clean data). Data in [-1, 1] or after a logit: keep the map inside
    the flow (:func:`flowkit.with_preprocessing`, the image factories' ``rescale=`` and
    ``logit_alpha=``) and give ``fit`` the pixels, so every score is in data space. A flow
    with batch norm (training mode) advances its running statistics every step (not under
    ``parallel="pmap"``); it is validated and returned in inference mode, with them.

    With ``run_dir``, every epoch writes ``last.flowkit``, ``best.flowkit`` (when it
    improved; both with ``metadata`` added to theirs) and ``history.json`` there, every step
    a line of ``metrics.jsonl``, and every ``checkpoint_every`` steps (and at the end) an
    orbax checkpoint in ``checkpoints/``; ``resume=True`` continues a killed run from its
    latest checkpoint exactly (same losses and parameters as an uninterrupted run), given
    the same arguments. ``flowkit.load(run_dir)`` reads the best. Only process 0 writes
    files and shows progress.
    """
    import optax

    from ..flows import batch_norm_inference
    from ..train import (
        MetricsLog,
        default_optimizer,
        ema_params,
        init_opt_state,
        params_ema,
        train_loop,
    )

    _check_options(flow, epochs, patience, max_steps, memory, resume, run_dir, checkpoint_every)
    if unroll is not None:
        flow = with_unroll(flow, unroll)
    k_split, k_train = jax.random.split(key)
    batches, val_x, val_c, image, num_levels = _data_and_validation(
        flow,
        data,
        condition,
        val_data,
        val_condition,
        val_fraction,
        k_split,
        k_train,
        batch_size=batch_size,
        image=image,
        num_levels=num_levels,
    )
    spe = batches.steps_per_epoch  # fixed batch shapes: the remainder is dropped
    total = epochs * spe if max_steps is None else min(epochs * spe, max_steps)
    batches = with_noise(batches, noise_std, image, num_levels)
    if data_init and not resume:
        flow = initial_actnorm(flow, data, batches, key, num_levels)
    if optimizer is None:
        optimizer = default_optimizer(total, learning_rate=learning_rate)
    if ema_decay is not None:
        optimizer = optax.chain(optimizer, params_ema(ema_decay))
    loss = with_memory(batches.loss, memory)
    batch_norm = batch_norm_update(flow, num_levels)
    step, prepare = make_parallel_step(
        parallel, devices, batches.batch_size, optimizer, loss, after_update=batch_norm
    )
    prepare = chain(batches.prepare, prepare)

    def scored(model, opt_state):
        """The flow that is validated, kept and returned: the parameter average (with
        ``ema_decay``), batch norm on its running statistics."""
        if ema_decay is not None and opt_state is not None:
            model = ema_params(model, opt_state)
        return batch_norm_inference(model) if batch_norm is not None else model

    def validate(model) -> float:
        if val_x.shape[0] == 0:
            return math.nan
        values, _ = scores(model, val_x, condition=val_c, image=image, num_levels=num_levels)
        return float(values.mean())  # a non-finite example makes it inf/nan: never the best

    run = None if run_dir is None else Path(run_dir)
    lead = jax.process_index() == 0
    checkpoints = None
    if run is not None:
        if not resume:
            clear_run(run, (BEST, LAST, HISTORY, METRICS))
        checkpoints = EpochCheckpoints(run / CHECKPOINTS, every=checkpoint_every)
    opt_state = init_opt_state(optimizer, flow)
    saved = None if checkpoints is None or not resume else checkpoints.fit_state()
    if saved is None:
        history = FitHistory(metric="bits/dim" if image else "nll")
        history.initial_val_loss = validate(scored(flow, None))
        if math.isfinite(history.initial_val_loss):
            history.best_val_loss = history.initial_val_loss
        state = FitState(1, 0, 0, spe, history)
        best, model, resumed_at = scored(flow, None), flow, 0
    else:
        assert checkpoints is not None and run is not None
        state = saved[0]
        if state.steps_per_epoch != spe:
            raise ValueError(
                f"fit: the run in {run} has {state.steps_per_epoch} steps per epoch, this "
                f"call {spe}; resume with the data and batch size of the saved run."
            )
        history = state.history
        start_flow = scored(flow, None)
        best = load(run / BEST, like=start_flow) if history.best_epoch > 0 else start_flow
        restored = checkpoints.checkpointer.restore(model=flow, opt_state=opt_state)
        model, opt_state = _device_copy(restored.model), restored.opt_state
        if restored.data_state is not None and hasattr(batches.iterator, "set_state"):
            batches.iterator.set_state(restored.data_state)
        resumed_at = restored.step
    has_val = val_x.shape[0] > 0  # without a validation set the last parameters are returned
    log = MetricsLog(run / METRICS, resume_step=resumed_at) if lead and run else None
    records = _epoch_losses(run, state.offset, resumed_at)
    start, seconds_before = time.perf_counter(), history.seconds
    result = None
    try:
        while state.epoch <= epochs and state.offset < total and state.waited < patience:
            epoch, offset = state.epoch, state.offset
            num_steps = min(spe, total - offset)

            def on_record(record: dict, epoch=epoch, offset=offset) -> None:
                # train_loop counts steps and time from its own start, one call per epoch:
                # the run's log counts both from the start of the run (resumes included)
                elapsed = seconds_before + time.perf_counter() - start
                record = {**record, "step": offset + record["step"], "epoch": epoch}
                record["time"] = elapsed
                records.append(record)
                if log is not None:
                    log.write(record)

            if checkpoints is not None:
                checkpoints.offset = offset
            result = train_loop(
                step,
                model,
                opt_state,
                batches.iterator,
                key=jax.random.fold_in(k_train, epoch),
                num_steps=num_steps,
                checkpointer=checkpoints,  # pyright: ignore[reportArgumentType]
                checkpoint_every=checkpoint_every,
                config={"fit": state.to_json(), "run": metadata},
                progress=progress and lead and num_steps >= 20,  # short epochs: a line each
                on_nonfinite=on_nonfinite,
                on_record=on_record,
                prepare_batch=prepare,
            )
            model, opt_state = _device_copy(result.model), result.opt_state
            losses = [r["loss"] for r in records if not r["skipped"]]
            history.step_loss.extend(float(r["loss"]) for r in records)
            history.steps += num_steps
            history.skipped_steps += sum(bool(r["skipped"]) for r in records)
            history.train_loss.append(float(np.mean(losses)) if losses else math.nan)
            records.clear()
            candidate = scored(model, opt_state)
            val = validate(candidate)
            history.val_loss.append(val)
            improved = not has_val or val < history.best_val_loss
            waited = 0 if improved else state.waited + 1
            if improved:
                best, history.best_val_loss, history.best_epoch = candidate, val, epoch
            history.seconds = seconds_before + time.perf_counter() - start
            history.stopped_early = waited >= patience
            state = FitState(epoch + 1, offset + num_steps, waited, spe, history)
            if run is not None and lead:
                extra = metadata or {}
                # the first epoch writes the best so far even without improvement
                write_best = improved or not (run / BEST).exists()
                _write_run(run, best if write_best else None, model, history, extra)
            if progress and lead:
                print(
                    f"epoch {epoch}/{epochs}: train {history.train_loss[-1]:.4f}, val {val:.4f} "
                    f"{history.metric}" + (" (best)" if improved else f" ({waited}/{patience})"),
                    file=sys.stderr,
                    flush=True,
                )
        if checkpoints is not None and result is not None:
            checkpoints.offset = state.offset
            iterator = batches.iterator
            checkpoints.save(
                0,
                force=True,
                model=result.model,
                opt_state=result.opt_state,
                key=jax.random.fold_in(k_train, state.epoch - 1),
                data_state=iterator.get_state() if hasattr(iterator, "get_state") else None,
                config={"fit": state.to_json(), "run": metadata},
            )
    finally:
        if log is not None:
            log.close()
        if checkpoints is not None:
            checkpoints.close()
        if hasattr(batches.iterator, "close"):
            batches.iterator.close()
    return best, history
