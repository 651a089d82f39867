"""The training loop: step + batches + checkpoints + metrics + progress, with resume."""

import math
import os
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax

from ..flows._frozen_base import trainable_filter
from ._checkpoint import CheckpointStore
from ._metrics_log import MetricsLog
from ._nonfinite import NonFiniteError, nonfinite_message, parameter_paths
from ._progress import Progress
from ._train_step import TrainStep


class TrainResult(NamedTuple):
    """The state after the last step (one host copy), that step, the steps whose update
    was skipped as non-finite, and the step resumed from (0 for a fresh run)."""

    model: Any
    opt_state: Any
    step: int
    skipped_steps: list[int]
    resumed_from: int


def _record(step: int, metrics: dict, examples: int, seconds: float, elapsed: float) -> dict:
    record: dict[str, Any] = {"step": step}
    for name, value in metrics.items():
        if name != "grads_finite":
            record[name] = bool(value) if name == "skipped" else float(value)
    record["examples_per_s"] = examples / seconds if seconds > 0 else math.nan
    record["time"] = elapsed
    return record


def _fast_forward(batches, count: int) -> None:
    for _ in range(count):
        next(batches)


def train_loop(
    step: TrainStep,
    model,
    opt_state,
    batches: Iterable,
    *,
    key,
    num_steps: int,
    checkpointer: CheckpointStore | None = None,
    checkpoint_every: int = 1000,
    config: dict | None = None,
    metrics_path: str | os.PathLike | None = None,
    progress: bool = True,
    on_nonfinite: str = "skip",
    resume: bool = True,
    on_record: Callable[[dict], None] | None = None,
    prepare_batch: Callable[[Any], Any] | None = None,
    filter_spec: Callable = trainable_filter,
) -> TrainResult:
    """Run ``step`` until ``num_steps`` steps are done; return the final state.

    ``model``/``opt_state``: one copy (the layout is ``step``'s business). ``batches``: an
    iterable of batches in the form ``step.put_batch`` takes; if its iterator has
    ``get_state()``/``set_state(state)`` (Grain, :class:`ArrayBatches`) the position is
    checkpointed, otherwise a resumed run skips the batches already used; ``prepare_batch``
    (e.g. :func:`split_for_devices` for pmap) is applied to each first. Step ``s`` uses
    the key ``fold_in(key, s)``. With ``checkpointer``, every ``checkpoint_every`` steps and
    at the end a checkpoint is written (with ``config``), and with ``resume`` the latest one
    is restored first, so a killed run continues exactly. Each step's metrics go to
    ``metrics_path`` (JSON lines: step, loss, nll, bpd, grad_norm, skipped, examples_per_s,
    time) and to ``on_record``. A step with a non-finite loss or gradient changes nothing;
    it is reported by step and parameter name, then skipped (``on_nonfinite="skip"``) or
    ends training with :class:`NonFiniteError` (``"stop"``), the last checkpoint kept.
    Only process 0 shows progress and writes metrics.
    """
    if on_nonfinite not in ("skip", "stop"):
        raise ValueError(f"on_nonfinite must be 'skip' or 'stop'; got {on_nonfinite!r}.")
    if num_steps < 0 or checkpoint_every < 1:
        raise ValueError(
            f"need num_steps >= 0 and checkpoint_every >= 1; got {num_steps}, {checkpoint_every}."
        )
    iterator: Any = iter(batches)
    start = 0
    if checkpointer is not None and resume and checkpointer.latest_step() is not None:
        restored = checkpointer.restore(model=model, opt_state=opt_state)
        model, opt_state, start, key = (
            restored.model,
            restored.opt_state,
            restored.step,
            restored.key,
        )
        if hasattr(iterator, "set_state") and restored.data_state is not None:
            iterator.set_state(restored.data_state)
        else:
            _fast_forward(iterator, start)
    paths = parameter_paths(model, filter_spec)
    lead = jax.process_index() == 0
    log = MetricsLog(metrics_path, resume_step=start) if lead and metrics_path else None
    bar = Progress(num_steps, start, enabled=progress and lead)
    skipped: list[int] = []
    model, opt_state = step.put_state((model, opt_state))
    began = last = time.perf_counter()

    def report(s: int, metrics, examples: int) -> None:
        nonlocal last
        metrics = step.get_metrics(metrics)  # waits for step s
        now = time.perf_counter()
        record = _record(s, metrics, examples, now - last, now - began)
        last = now
        if record["skipped"]:
            skipped.append(s)
            message = nonfinite_message(s, metrics, paths)
            if on_nonfinite == "stop":
                saved = None if checkpointer is None else checkpointer.latest_step()
                raise NonFiniteError(
                    f"{message}; the update was skipped and training stopped "
                    f"(on_nonfinite='stop'); last checkpoint: step {saved}.",
                    s,
                )
            if lead:
                bar.write(f"{message}; the update was skipped.")
        if log is not None:
            log.write(record)
        if on_record is not None:
            on_record(record)
        bar.update(record)

    pending = None
    try:
        for s in range(start + 1, num_steps + 1):
            try:
                batch = next(iterator)
            except StopIteration:
                raise ValueError(
                    f"train_loop: the batches ran out at step {s} of {num_steps}; pass an "
                    "endless iterator or fewer steps."
                ) from None
            data_state = iterator.get_state() if hasattr(iterator, "get_state") else None
            if prepare_batch is not None:
                batch = prepare_batch(batch)
            examples = step.examples(batch)
            model, opt_state, metrics = step(
                model, opt_state, step.put_batch(batch), jax.random.fold_in(key, s)
            )
            if pending is not None:
                report(*pending)  # the previous step, while this one runs
            pending = (s, metrics, examples)
            if on_nonfinite == "stop":
                report(*pending)
                pending = None
            if checkpointer is not None and (s % checkpoint_every == 0 or s == num_steps):
                if pending is not None:
                    report(*pending)  # never checkpoint before the step is checked
                    pending = None
                host_model, host_opt = step.get_state((model, opt_state))
                checkpointer.save(
                    s,
                    model=host_model,
                    opt_state=host_opt,
                    key=key,
                    data_state=data_state,
                    config=config,
                )
        if pending is not None:
            report(*pending)
        if checkpointer is not None:
            checkpointer.wait()
    finally:
        bar.close()
        if log is not None:
            log.close()
    host_model, host_opt = step.get_state((model, opt_state))
    return TrainResult(host_model, host_opt, max(start, num_steps), skipped, start)
