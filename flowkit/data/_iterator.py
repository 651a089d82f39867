"""The checkpointable iterator of a :class:`~flowkit.data.Loader`: the next step number is
its whole position, so its state is a small JSON dict. It reads the loader's
:class:`~flowkit.data._pipeline.Pipeline`, not the loader, so this module never imports
``_loader``."""

import json
from typing import Any

import grain

from ._errors import DataError
from ._pipeline import Pipeline

STATE_VERSION = 1


class LoaderIterator(grain.DatasetIterator):
    """Iterates a :class:`Loader`; ``get_state``/``set_state`` give and take a JSON-able dict
    (Grain's iterator protocol, so ``grain.checkpoint.CheckpointSave`` works with orbax).
    Worker processes start at the first ``next``; ``close`` ends them.

    Made by :meth:`Loader.iterator` or ``iter(loader)``.

    Args:
        pipeline: the loader's pipeline.
    """

    def __init__(self, pipeline: Pipeline):
        super().__init__()
        self._pipeline = pipeline
        self._next_step = 0
        self._grain_it: grain.DatasetIterator | None = None

    @property
    def step(self) -> int:
        """The number of the next batch (counting across epochs)."""
        return self._next_step

    @property
    def epoch(self) -> int:
        """The epoch of the next batch."""
        return self._next_step // self._pipeline.batches_per_epoch

    def __next__(self) -> dict:
        num_steps = self._pipeline.num_steps
        if num_steps is not None and self._next_step >= num_steps:
            raise StopIteration
        if self._grain_it is None:
            self._grain_it = self._pipeline.grain_iterator(self._next_step)
        batch = next(self._grain_it)
        self._next_step += 1
        return batch

    def get_state(self) -> dict[str, Any]:
        """The iterator's position and the settings it depends on.

        Returns:
            ``{"version", "next_step", "loader": Loader.fingerprint(), "process_index",
            "process_count"}``; JSON values.
        """
        maker = self._pipeline.maker
        return {
            "version": STATE_VERSION,
            "next_step": self._next_step,
            "loader": self._pipeline.fingerprint(),
            "process_index": maker.process_index,
            "process_count": maker.process_count,
        }

    def set_state(self, state: dict[str, Any] | bytes | str) -> None:
        """Continue from a saved state.

        Args:
            state: what :meth:`get_state` returned (a dict, or its JSON text as str or bytes),
                from a loader with the same fingerprint; the process and worker counts may
                differ (global batches do not depend on them).

        Raises:
            DataError: if ``state`` is not a loader state or was saved with other settings.
        """
        if isinstance(state, bytes | str):
            state = json.loads(state)
        name = self._pipeline.name
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise DataError(name, f"not a flowkit loader state (version {STATE_VERSION}).")
        saved, current = state["loader"], self._pipeline.fingerprint()
        changed = [
            f"{k}={saved.get(k)!r} (now {v!r})" for k, v in current.items() if saved.get(k) != v
        ]
        if changed:
            raise DataError(
                name,
                "the loader state was saved with other settings: "
                + ", ".join(changed)
                + ". Resume with the settings of the saved run.",
            )
        self._stop_pipeline()  # restarts at the new step on the next ``next``
        self._next_step = int(state["next_step"])

    def _stop_pipeline(self) -> None:
        if self._grain_it is not None:
            self._grain_it.close()
            self._grain_it = None

    def close(self) -> None:
        """End the worker processes (if any); idempotent."""
        self._stop_pipeline()
        super().close()

    def __enter__(self) -> "LoaderIterator":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
