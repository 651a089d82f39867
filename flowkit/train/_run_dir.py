"""A run directory: the one place a training run writes, as a unit.

Every file goes through :func:`flowkit.io._write.atomic_write` (so an ``OSError`` becomes one
:class:`~flowkit.io._write.WriteError` line naming the file and the cause, and the previous
file stays whole); a directory that already holds a run is never written over by accident.
"""

import json
import os
import shutil
from pathlib import Path

import jax

from ..io._format import BEST, LAST
from ..io._model import load, save
from ..io._write import WriteError, atomic_write_text, describe
from ._history import FitHistory

CHECKPOINTS = "checkpoints"  # orbax step folders
METRICS = "metrics.jsonl"  # one JSON line per step
HISTORY = "history.json"
# Everything flowkit writes into a run directory (the CLI adds run.json, metrics.json and
# figures); a folder holding any of them holds a run.
RUN_FILES = (BEST, LAST, HISTORY, METRICS, CHECKPOINTS, "run.json", "metrics.json")


class RunDirError(ValueError):
    """A run directory cannot be used as asked (it holds a run, or is not a folder)."""


class RunDir:
    """Where a run keeps its models, history, metrics and checkpoints.

    Writes ``best.flowkit`` and ``last.flowkit`` (every epoch), ``history.json``,
    ``metrics.jsonl`` (a line per step) and orbax checkpoints in ``checkpoints/``.

    Args:
        path: the folder (created if missing).
        resume: continue the run it holds from its latest checkpoint (a run killed before its
            first checkpoint starts over).
        overwrite: delete the run it holds and start a new one.
        checkpoint_every: steps between checkpoints (one is also written when the run ends).
        metadata: JSON-able values stored in the model files' metadata.

    Raises:
        RunDirError: both ``resume`` and ``overwrite``, or ``checkpoint_every < 1``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        resume: bool = False,
        overwrite: bool = False,
        checkpoint_every: int = 1000,
        metadata: dict | None = None,
    ):
        if resume and overwrite:
            raise RunDirError(
                "RunDir: resume=True continues a run, overwrite=True deletes it; pick one."
            )
        if checkpoint_every < 1:
            raise RunDirError(f"RunDir: checkpoint_every must be >= 1; got {checkpoint_every}.")
        self.path = Path(path)
        self.resume, self.overwrite = resume, overwrite
        self.checkpoint_every = checkpoint_every
        self.metadata = dict(metadata or {})
        self._opened = False

    def held_files(self) -> list[str]:
        """The run files already in the folder (empty when it holds no run)."""
        return [name for name in RUN_FILES if (self.path / name).exists()]

    def open(self) -> None:
        """Make the folder ready (once): refuse a file or an existing run unless resuming,
        clear it with ``overwrite``.

        Raises:
            RunDirError: ``path`` is not a folder, or holds a run and neither ``resume`` nor
                ``overwrite`` was given.
            WriteError: the folder cannot be made or cleared.
        """
        if self._opened:
            return
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(
                f"run directory {self.path} is an existing file, not a folder; give a new or "
                "existing folder."
            )
        held = self.held_files()
        if held and not (self.resume or self.overwrite):
            raise RunDirError(
                f"{self.path} already holds a run ({', '.join(held)}); continue it with "
                "resume=True (flowkit train --resume) or replace it with overwrite=True "
                "(--overwrite)."
            )
        if jax.process_index() == 0:
            if self.overwrite:
                self._clear(held)
            for leftover in self.path.glob(".*.tmp") if self.path.is_dir() else ():
                leftover.unlink(missing_ok=True)  # a killed atomic write's temporary file
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise WriteError(self.path, describe(e), e.errno) from e
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("flowkit: run directory ready")
        self._opened = True

    def _clear(self, held: list[str]) -> None:
        stale = [self.path / name for name in held] + list(self.path.glob("*.png"))
        for item in stale:
            try:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
            except OSError as e:
                raise WriteError(item, describe(e), e.errno) from e

    @property
    def checkpoints(self) -> Path:
        """The orbax folder."""
        return self.path / CHECKPOINTS

    @property
    def metrics(self) -> Path:
        """The per-step metrics file."""
        return self.path / METRICS

    def write_epoch(self, best, last, history: FitHistory, *, improved: bool) -> None:
        """Write ``best.flowkit`` (when it improved, or is missing), ``last.flowkit`` and
        ``history.json`` after an epoch; each file whole or not written.

        Args:
            best: the selected model so far.
            last: the model after this epoch.
            history: the run's history up to this epoch.
            improved: whether this epoch's model is the new best.

        Raises:
            WriteError: a file could not be written.
        """
        info = {
            **self.metadata,
            "epoch": history.epochs,
            "val_loss": history.val_loss[-1],
            "metric": history.metric,
        }
        if improved or not (self.path / BEST).exists():
            best_info = {**info, "epoch": history.best_epoch, "val_loss": history.best_val_loss}
            save(self.path / BEST, best, metadata=best_info)
        save(self.path / LAST, last, metadata=info)
        atomic_write_text(self.path / HISTORY, json.dumps(history.to_dict(), indent=1))

    def load_best(self, like):
        """The best model written so far.

        Args:
            like: a model of the same architecture (its structure and dtypes).

        Returns:
            The best model, same structure as ``like``.
        """
        return load(self.path / BEST, like=like)
