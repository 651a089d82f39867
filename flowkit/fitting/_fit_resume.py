"""Checkpoints of a :func:`flowkit.fit` run: flowkit.train's orbax ``Checkpointer`` seen by
the training loop one epoch at a time, with fit's own state (history, patience count) in
every checkpoint's config, so a killed run resumes exactly."""

import dataclasses
import math
import shutil
from pathlib import Path
from typing import Any

import jax

from ._history import FitHistory

CHECKPOINTS = "checkpoints"  # the orbax folder inside a run directory
METRICS = "metrics.jsonl"  # one JSON line per step


def _plain(value):
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def _number(value):
    return float(value) if value in ("nan", "inf", "-inf") else value


@dataclasses.dataclass
class FitState:
    """Where a fit run stands: ``epoch`` (1-based) is being trained, ``offset`` steps were
    done before it; ``history`` holds the epochs before it, ``waited`` the epochs without
    improvement."""

    epoch: int
    offset: int
    waited: int
    steps_per_epoch: int
    history: FitHistory

    def to_json(self) -> dict:
        history = {k: _plain(v) for k, v in dataclasses.asdict(self.history).items()}
        history["train_loss"] = [_plain(v) for v in self.history.train_loss]
        history["val_loss"] = [_plain(v) for v in self.history.val_loss]
        return {**dataclasses.asdict(self), "history": history}

    @classmethod
    def from_json(cls, data: dict) -> "FitState":
        history: dict[str, Any] = {}
        for name, value in data["history"].items():
            history[name] = [_number(v) for v in value] if isinstance(value, list) else value
            if name in ("best_val_loss", "initial_val_loss"):
                history[name] = _number(value)
        return cls(**{**data, "history": FitHistory(**history)})


def clear_run(run_dir: Path, files: tuple[str, ...]) -> None:
    """Remove an old run's checkpoints and ``files`` from ``run_dir`` (process 0; the others
    wait for it): a new run in an old run directory starts over."""
    if jax.process_index() == 0:
        shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
        for name in files:
            (run_dir / name).unlink(missing_ok=True)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("flowkit.fit: run directory cleared")


class EpochCheckpoints:
    """A ``flowkit.train.Checkpointer`` as ``train_loop`` sees it during one epoch: steps
    counted from the epoch's start (``offset`` steps done before it), and a save kept only
    when ``every`` steps have passed since the last one (an orbax save costs ~0.2 s, more
    than a small model's epoch)."""

    def __init__(self, directory: Path, *, every: int):
        from ..train import Checkpointer  # orbax: imported only when checkpointing

        self.checkpointer = Checkpointer(directory, max_to_keep=2)
        self.every, self.offset = every, 0
        self.last_saved = self.checkpointer.latest_step() or 0

    def fit_state(self) -> tuple[FitState, Any] | None:
        """The fit state and run config of the latest checkpoint, or None."""
        if self.checkpointer.latest_step() is None:
            return None
        config = self.checkpointer.metadata()["config"] or {}
        if "fit" not in config:
            raise ValueError(
                f"{self.checkpointer.directory}: the checkpoints were not written by "
                "flowkit.fit; resume them with flowkit.train.train_loop."
            )
        return FitState.from_json(config["fit"]), config.get("run")

    def latest_step(self) -> int | None:
        real = self.checkpointer.latest_step()
        return None if real is None or real <= self.offset else real - self.offset

    def restore(self, step: int | None = None, *, model, opt_state):
        step = None if step is None else step + self.offset
        restored = self.checkpointer.restore(step, model=model, opt_state=opt_state)
        return restored._replace(step=restored.step - self.offset)

    def save(self, step: int, *, force: bool = False, **kwargs) -> None:
        step += self.offset
        if step > self.last_saved and (force or step - self.last_saved >= self.every):
            self.checkpointer.save(step, **kwargs)
            self.last_saved = step

    def wait(self) -> None:
        self.checkpointer.wait()

    def close(self) -> None:
        self.checkpointer.close()
