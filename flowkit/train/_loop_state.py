"""Where a run of :func:`flowkit.train.train_loop` stands, and the one way it is saved to a
checkpoint and restored from one."""

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._history import FitHistory
from ._run_dir import RunDir, RunDirError

LOOP = "flowkit-train-loop"  # the key of the loop's state in a checkpoint's config


@dataclasses.dataclass
class LoopState:
    """The moving parts of a run: model and optimiser state (in the step's layout), the
    steps done, the history, the best model, the patience count and the current epoch's
    step losses and skips; plus the checkpointer and the last checkpointed step."""

    model: Any
    opt_state: Any
    history: FitHistory
    best: Any
    step: int = 0
    waited: int = 0
    epoch_losses: list[float] = dataclasses.field(default_factory=list)
    epoch_skipped: int = 0
    first_skip: str | None = None
    data_state: Any = None
    checkpointer: Any = None
    saved_step: int | None = None
    resumed_from: int = 0
    began: float = 0.0
    last_time: float = 0.0


def device_copy(tree):
    """Checkpoints restore host (numpy) copies; models go on as device arrays."""
    return jax.tree_util.tree_map(
        lambda x: jnp.asarray(x) if isinstance(x, np.ndarray) else x, tree
    )


def _fresh(model, opt_state, select, validate, metric: str) -> LoopState:
    history = FitHistory(metric=metric)
    if validate is None:
        history.selected_on = "training loss"
    initial = select(model, None)
    history.initial_val_loss = math.nan if validate is None else validate(initial)
    if math.isfinite(history.initial_val_loss):
        history.best_val_loss = history.initial_val_loss
    return LoopState(model, opt_state, history, initial)


def _restore(run: RunDir, checkpointer, model, opt_state, iterator, select, spe: int):
    restored = checkpointer.restore(model=model, opt_state=opt_state)
    saved = (restored.config or {}).get(LOOP)
    if saved is None:
        raise RunDirError(
            f"{run.checkpoints}: these checkpoints were not written by flowkit's training "
            "loop; resume them where they were made, or start over with overwrite=True."
        )
    if saved["steps_per_epoch"] != spe:
        raise RunDirError(
            f"{run.path}: the run has {saved['steps_per_epoch']} steps per epoch, this call "
            f"{spe}; resume with the data and batch size of the saved run."
        )
    history = FitHistory.from_dict(saved["history"])
    initial = select(model, None)
    best = run.load_best(like=initial) if history.best_epoch > 0 else initial
    if restored.data_state is not None and hasattr(iterator, "set_state"):
        iterator.set_state(restored.data_state)
    else:
        for _ in range(restored.step):  # no position to restore: skip the batches used
            next(iterator)
    state = LoopState(device_copy(restored.model), restored.opt_state, history, best)
    state.step = state.saved_step = state.resumed_from = restored.step
    state.waited, state.epoch_skipped = saved["waited"], saved["epoch_skipped"]
    state.epoch_losses = [float(v) for v in saved["epoch_losses"]]
    state.data_state = restored.data_state
    return state


def start(
    run: RunDir | None, model, opt_state, iterator, select, validate, metric: str, spe: int
) -> LoopState:
    """The state a run starts from: the latest checkpoint of ``run`` when resuming (the one
    restore path of flowkit), else the given model with its initial validation score."""
    if run is None:
        return _fresh(model, opt_state, select, validate, metric)
    from ._checkpoint import Checkpointer  # orbax: imported only when checkpointing

    run.open()
    checkpointer = Checkpointer(run.checkpoints, max_to_keep=2)
    if run.resume and checkpointer.latest_step() is not None:
        state = _restore(run, checkpointer, model, opt_state, iterator, select, spe)
    else:
        state = _fresh(model, opt_state, select, validate, metric)
    state.checkpointer = checkpointer
    return state


def save_checkpoint(loop, state: LoopState) -> None:
    """Checkpoint ``state`` after step ``state.step`` (once per step)."""
    if state.checkpointer is None or state.saved_step == state.step:
        return
    host_model, host_opt = loop.step.get_state((state.model, state.opt_state))
    saved = {
        "steps_per_epoch": loop.steps_per_epoch,
        "history": state.history.to_dict(),
        "waited": state.waited,
        "epoch_losses": state.epoch_losses,
        "epoch_skipped": state.epoch_skipped,
    }
    state.checkpointer.save(
        state.step,
        model=host_model,
        opt_state=host_opt,
        key=loop.key,
        data_state=state.data_state,
        config={LOOP: saved, "run": loop.run.metadata},
    )
    state.saved_step = state.step
