"""The training loop: epochs of steps, validation, early stopping, checkpoints and resume.

:func:`train_loop` is the one loop of flowkit (``flowkit.fit`` and ``flowkit train`` run
it). A run directory's checkpoints hold the model, the optimiser state, the data position
and the loop's own state (history, patience count, the current epoch's losses), and
:func:`._loop_state.start` is the one place they are restored, so a killed run continues
with the same steps, losses and parameters as an uninterrupted one.

Step ``s`` (1-based, counted over the run) uses the key ``fold_in(key, s)``. After every
epoch, ``select(model, opt_state)`` (``fit`` gives the parameter average when the optimiser
keeps one) is scored by ``validate`` (lower is better; without it, the epoch's mean training
loss is the score), the lowest-scoring one is kept, and training stops after
``stopping.patience`` epochs without improvement or when the step budget is spent.

A step with a non-finite loss or gradient changes nothing; with ``on_nonfinite="skip"`` such
steps are counted and summarised once per epoch, with ``"stop"`` the first ends the run with
:class:`NonFiniteError`. An epoch that mostly skipped, or whose loss exploded, ends the run
with :class:`DivergenceError`, the best model and the last good checkpoint kept.
"""

import math
import time
import warnings
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, get_args

import jax
import numpy as np

from ..flows._frozen_base import trainable_filter
from ._history import FitHistory
from ._loop_state import LoopState, device_copy, save_checkpoint, start
from ._metrics_log import MetricsLog
from ._nonfinite import (
    DivergenceError,
    NonFiniteError,
    divergence,
    nonfinite_message,
    parameter_paths,
)
from ._progress import Progress
from ._run_dir import RunDir
from ._stopping import DEFAULT_STOPPING, Stopping
from ._train_step import TrainStep

OnNonFinite = Literal["skip", "stop"]
ON_NONFINITE: tuple[str, ...] = get_args(OnNonFinite)


class TrainResult(NamedTuple):
    """What :func:`train_loop` returns.

    Args:
        best: the selected model (device arrays).
        model: the last model (one host copy, numpy leaves).
        opt_state: the last optimiser state (one host copy).
        history: the run's :class:`FitHistory`.
        resumed_from: the step the run resumed from (0: a fresh run).
    """

    best: Any
    model: Any
    opt_state: Any
    history: FitHistory
    resumed_from: int


class _Loop(NamedTuple):
    """What stays fixed during a run."""

    key: Any
    step: TrainStep
    iterator: Any
    steps_per_epoch: int
    total: int
    stopping: Stopping
    validate: Callable[[Any], float] | None
    select: Callable[[Any, Any], Any]
    run: RunDir | None
    on_nonfinite: str
    prepare_batch: Callable[[Any], Any] | None
    paths: list[str]
    lead: bool
    log: MetricsLog | None
    bar: Progress
    clock: Callable[[], float]


def _record(state: LoopState, s: int, metrics: dict, examples: int, loop: _Loop) -> dict:
    now = loop.clock()
    record: dict[str, Any] = {"step": s, "epoch": (s - 1) // loop.steps_per_epoch + 1}
    for name, value in metrics.items():
        if name != "grads_finite":
            record[name] = bool(value) if name == "skipped" else float(value)
    seconds = now - state.last_time
    record["examples_per_s"] = examples / seconds if seconds > 0 else math.nan
    record["time"] = state.history.seconds + now - state.began
    state.last_time = now
    return record


def _report(loop: _Loop, state: LoopState, s: int, metrics, examples: int) -> None:
    """Read step ``s``'s metrics (waits for it), log them, and handle a skipped step."""
    metrics = loop.step.get_metrics(metrics)
    record = _record(state, s, metrics, examples, loop)
    state.history.step_loss.append(record["loss"])
    if record["skipped"]:
        message = nonfinite_message(s, metrics, loop.paths)
        if loop.on_nonfinite == "stop":
            raise NonFiniteError(
                f"{message}; the update was skipped and training stopped "
                f"(on_nonfinite='stop'); last checkpoint: step {state.saved_step}.",
                s,
            )
        state.epoch_skipped += 1
        state.first_skip = state.first_skip or message
    else:
        state.epoch_losses.append(record["loss"])
    if loop.log is not None:
        loop.log.write(record)
    loop.bar.update(record)


def _run_steps(loop: _Loop, state: LoopState, end: int) -> None:
    """Steps ``state.step + 1 .. end`` (within one epoch), checkpointing on the way."""
    every = None if loop.run is None else loop.run.checkpoint_every
    pending = None
    for s in range(state.step + 1, end + 1):
        batch = next(loop.iterator)
        if hasattr(loop.iterator, "get_state"):
            state.data_state = loop.iterator.get_state()
        if loop.prepare_batch is not None:
            batch = loop.prepare_batch(batch)
        examples = loop.step.examples(batch)
        key = jax.random.fold_in(loop.key, s)
        state.model, state.opt_state, metrics = loop.step(
            state.model, state.opt_state, loop.step.put_batch(batch), key
        )
        state.step = s
        if pending is not None:
            _report(loop, state, *pending)  # the previous step, while this one runs
        pending = (s, metrics, examples)
        must_save = every is not None and s % every == 0 and s < end
        if loop.on_nonfinite == "stop" or must_save:
            _report(loop, state, *pending)  # never checkpoint a step before it is checked
            pending = None
        if must_save:
            save_checkpoint(loop, state)
    if pending is not None:
        _report(loop, state, *pending)


def _summarise_skips(loop: _Loop, state: LoopState, epoch: int, steps: int) -> None:
    if state.epoch_skipped and loop.lead:
        loop.bar.write(
            f"epoch {epoch}: {state.epoch_skipped} of {steps} steps skipped (non-finite loss "
            f"or gradients; their updates were not applied); first: {state.first_skip}."
        )


def _end_epoch(loop: _Loop, state: LoopState, epoch: int, steps: int) -> None:
    """Validate, keep the best, count patience, write the run's files, check divergence."""
    history = state.history
    losses = state.epoch_losses
    history.train_loss.append(float(np.mean(losses)) if losses else math.nan)
    history.skipped_steps += state.epoch_skipped
    history.steps = state.step
    first = next((v for v in history.step_loss if math.isfinite(v)), None)
    reason = divergence(epoch, losses, state.epoch_skipped, steps, first)
    if reason is not None:  # the one line of a diverged run (no skip summary before it)
        raise DivergenceError(
            f"{reason}; training stopped with the best model and last good checkpoint "
            f"(step {state.saved_step}) kept: lower the learning rate or check the data."
        )
    _summarise_skips(loop, state, epoch, steps)
    host_model, host_opt = loop.step.get_state((state.model, state.opt_state))
    last = device_copy(host_model)
    candidate = device_copy(loop.select(last, host_opt))
    val = history.train_loss[-1] if loop.validate is None else loop.validate(candidate)
    history.val_loss.append(val)
    improved = val < history.best_val_loss  # a non-finite loss is never the best
    state.waited = 0 if improved else state.waited + 1
    if improved:
        state.best, history.best_val_loss, history.best_epoch = candidate, val, epoch
    history.stopped_early = state.waited >= loop.stopping.patience
    history.seconds += loop.clock() - state.began
    state.began = loop.clock()
    state.epoch_losses, state.epoch_skipped, state.first_skip = [], 0, None
    if loop.run is not None and loop.lead:
        loop.run.write_epoch(state.best, last, history, improved=improved)
    if loop.bar.enabled and loop.lead:
        wait = " (best)" if improved else f" ({state.waited}/{loop.stopping.patience})"
        loop.bar.write(
            f"epoch {epoch}: train {history.train_loss[-1]:.4f}, val {val:.4f} "
            f"{history.metric}{wait}"
        )


def _done(loop: _Loop, state: LoopState) -> bool:
    return state.step >= loop.total or state.history.stopped_early


def _warn_if_never_improved(history: FitHistory) -> None:
    if history.epochs and history.best_epoch == 0:
        warnings.warn(
            f"no epoch beat the initial parameters (initial {history.selected_on} loss "
            f"{history.initial_val_loss:.4g} {history.metric}, best after training "
            f"{min(history.val_loss):.4g}): the initial model is returned; lower the "
            "learning rate or train longer.",
            stacklevel=3,
        )


def train_loop(
    key,
    step: TrainStep,
    model,
    opt_state,
    batches,
    *,
    steps_per_epoch: int,
    stopping: Stopping = DEFAULT_STOPPING,
    validate: Callable[[Any], float] | None = None,
    select: Callable[[Any, Any], Any] | None = None,
    run: RunDir | None = None,
    on_nonfinite: OnNonFinite = "skip",
    progress: bool = True,
    prepare_batch: Callable[[Any], Any] | None = None,
    metric: str = "loss",
) -> TrainResult:
    """Train ``model`` epoch by epoch, keep the best, stop early, checkpoint and resume
    (see the module docstring).

    Args:
        key: PRNG key of the steps.
        step: a training step (:func:`make_step`, :func:`make_pmap_step`, ...).
        model: the initial model (one copy).
        opt_state: its optimiser state (:func:`init_opt_state`).
        batches: endless batches for ``step.put_batch``; the position is checkpointed when
            the iterator has ``get_state``/``set_state``, else a resume skips used batches.
        steps_per_epoch: steps per epoch.
        stopping: the epoch and step caps and the patience.
        validate: ``validate(model) -> float``; select: ``select(model, opt_state)``, the
            model validated and kept.
        run: the run directory (models, history, metrics, checkpoints; resume).
        on_nonfinite: "skip" or "stop" (see above).
        progress: show a progress bar and a line per epoch (process 0 only).
        prepare_batch: applied to every batch first (e.g. :func:`reshape_for_pmap`).
        metric: the name of the score, for the history.

    Returns:
        A :class:`TrainResult`.

    Raises:
        NonFiniteError: a non-finite step with ``on_nonfinite="stop"``.
        DivergenceError: the run diverged. RunDirError, WriteError: see :class:`RunDir`.
    """
    if on_nonfinite not in ON_NONFINITE:
        raise ValueError(f"on_nonfinite must be one of {ON_NONFINITE}; got {on_nonfinite!r}.")
    if steps_per_epoch < 1:
        raise ValueError(f"train_loop: steps_per_epoch must be >= 1; got {steps_per_epoch}.")
    select = select or (lambda m, s: m)
    iterator = iter(batches)
    total = stopping.total_steps(steps_per_epoch)
    state = start(run, model, opt_state, iterator, select, validate, metric, steps_per_epoch)
    lead = jax.process_index() == 0
    loop = _Loop(
        key, step, iterator, steps_per_epoch, total, stopping, validate, select, run,
        on_nonfinite, prepare_batch, parameter_paths(model, trainable_filter), lead,
        MetricsLog(run.metrics, resume_step=state.step) if lead and run else None,
        Progress(total, state.step, enabled=progress and lead), time.perf_counter,
    )  # fmt: skip
    state.model, state.opt_state = step.put_state((state.model, state.opt_state))
    state.began = state.last_time = time.perf_counter()
    try:
        while not _done(loop, state):
            epoch = state.step // steps_per_epoch + 1
            end = min(epoch * steps_per_epoch, total)
            _run_steps(loop, state, end)
            _end_epoch(loop, state, epoch, end - (epoch - 1) * steps_per_epoch)
            if run is not None and (state.step % run.checkpoint_every == 0 or _done(loop, state)):
                save_checkpoint(loop, state)
    finally:
        loop.bar.close()
        if loop.log is not None:
            loop.log.close()
        if state.checkpointer is not None:
            state.checkpointer.close()
        if hasattr(iterator, "close"):
            iterator.close()
    _warn_if_never_improved(state.history)
    host_model, host_opt = step.get_state((state.model, state.opt_state))
    return TrainResult(state.best, host_model, host_opt, state.history, state.resumed_from)
