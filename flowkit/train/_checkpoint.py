"""Training checkpoints on orbax: model, optimiser state, step, key, data state, config.

One checkpoint is a step folder written by ``orbax.checkpoint.CheckpointManager`` (a
temporary folder renamed when complete, so a kill never leaves a half-written step that looks
valid; the newest ``max_to_keep`` are kept) with three items:

- ``state``: the array leaves of model and optimiser state (one host copy, numpy) and the
  raw PRNG key data; layout-free, so a run saved under pmap resumes sharded or on one device;
- ``meta``: JSON with the step, key implementation, leaf paths/shapes, versions and the run
  configuration (readable without the model, e.g. to rebuild it: :meth:`metadata`);
- ``data``: each process's data-iterator state (see :mod:`._process_state`).
"""

import os
import shutil
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..io._write import WriteError, describe
from ._train_step import to_host

FORMAT = "flowkit-train-checkpoint"
VERSION = 1


def _orbax():
    """``orbax.checkpoint``, imported on first use: it is slow to import and only checkpointing
    needs it (``import flowkit.train`` stays light)."""
    import orbax.checkpoint as ocp

    return ocp


class Checkpoint(NamedTuple):
    """A restored training state (single host copy: numpy leaves), from
    :meth:`Checkpointer.restore`.

    Args:
        model: the model, same structure as the template given to ``restore``.
        opt_state: the optimiser state, same structure as its template.
        step: the steps run when it was saved.
        key: the run's PRNG key.
        data_state: this process's data-iterator state (JSON value or bytes), or None.
        config: the run configuration saved with it, or None.
    """

    model: Any
    opt_state: Any
    step: int
    key: Any
    data_state: Any
    config: dict | None


def _is_array(x) -> bool:
    return eqx.is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


def _array_leaves(tree) -> tuple[list, list[str]]:
    with_paths = jax.tree_util.tree_leaves_with_path(eqx.filter(tree, _is_array))
    return [leaf for _, leaf in with_paths], [jax.tree_util.keystr(p) for p, _ in with_paths]


def _describe(leaves) -> list[list]:
    return [[list(x.shape), str(np.dtype(x.dtype))] for x in leaves]


def _key_parts(key) -> tuple[np.ndarray, str | None]:
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(key)), str(jax.random.key_impl(key))
    return np.asarray(key), None


class Checkpointer:
    """Save and restore training checkpoints in a directory.

    All processes of a multi-process run call every method together. Unfinished step
    folders a killed save left behind are removed on opening.

    Args:
        directory: where the step folders live (created if missing).
        max_to_keep: how many of the newest checkpoints are kept.
        async_save: write in a background thread (call :meth:`wait` or :meth:`close`
            before reading them back).
    """

    def __init__(
        self, directory: str | os.PathLike, *, max_to_keep: int = 3, async_save: bool = False
    ):
        self.directory = os.path.abspath(directory)
        _remove_unfinished(self.directory)
        ocp = _orbax()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            enable_async_checkpointing=async_save,
            create=True,
            cleanup_tmp_directories=True,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def save(
        self,
        step: int,
        *,
        model,
        opt_state,
        key,
        data_state: Any = None,
        config: dict | None = None,
    ) -> None:
        """Save the state after ``step`` steps.

        Args:
            step: the steps run; names the checkpoint.
            model: the model, one copy (unreplicated).
            opt_state: the optimiser state, one copy (unreplicated).
            key: the run's PRNG key (typed or raw ``uint32`` key data).
            data_state: this process's data-iterator state, JSON-able or bytes.
            config: the run configuration, JSON-able (read back with :meth:`metadata`).

        Raises:
            WriteError: the checkpoint could not be written (disk full, permissions).
        """
        model_leaves, model_paths = _array_leaves(to_host(model))
        opt_leaves, opt_paths = _array_leaves(to_host(opt_state))
        key_data, key_impl = _key_parts(key)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "step": int(step),
            "key_impl": key_impl,
            "key_shape": list(key_data.shape),
            "model": {"paths": model_paths, "arrays": _describe(model_leaves)},
            "opt_state": {"paths": opt_paths, "arrays": _describe(opt_leaves)},
            "jax_version": jax.__version__,
            "config": config,
        }
        state = {"model": model_leaves, "opt_state": opt_leaves, "key": key_data}
        from ._process_state import ProcessStateSave  # orbax handler classes

        ocp = _orbax()
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            meta=ocp.args.JsonSave(meta),
            data=ProcessStateSave(data_state),
        )
        try:
            self._manager.save(int(step), args=args)
        except Exception as e:  # orbax and etils wrap the OSError: find it
            cause = _os_error(e)
            if cause is None:
                raise
            _remove_unfinished(self.directory)
            where = os.path.join(self.directory, str(int(step)))
            raise WriteError(where, describe(cause), cause.errno) from e

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or None."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """The steps of all complete checkpoints, oldest first."""
        return sorted(self._manager.all_steps())

    def metadata(self, step: int | None = None) -> dict:
        """The JSON metadata of a checkpoint, readable without a model.

        Args:
            step: the checkpoint's step; None: the latest.

        Returns:
            The metadata: step, key implementation, leaf paths and shapes, versions and
            the run ``config``.

        Raises:
            FileNotFoundError: no complete checkpoint, or none at ``step``.
        """
        step = self._resolve(step)
        ocp = _orbax()
        args = ocp.args.Composite(meta=ocp.args.JsonRestore())
        return self._manager.restore(step, args=args)["meta"]

    def restore(self, step: int | None = None, *, model, opt_state) -> Checkpoint:
        """Restore a checkpoint into the structure of the given templates.

        Args:
            step: the checkpoint's step; None: the latest.
            model: a model of the same architecture, one copy (not replicated); an
                abstract one (``eqx.filter_eval_shape``) saves initialising it.
            opt_state: an optimiser state of the same optimiser, likewise.

        Returns:
            The :class:`Checkpoint` (numpy leaves).

        Raises:
            FileNotFoundError: no complete checkpoint, or none at ``step``.
            ValueError: the templates' arrays differ from the saved ones in paths, shapes
                or dtypes (another architecture or optimiser).
        """
        step = self._resolve(step)
        meta = self.metadata(step)
        model_like, model_paths = _array_leaves(model)
        opt_like, opt_paths = _array_leaves(opt_state)
        self._check(step, "model", meta["model"], model_like, model_paths)
        self._check(step, "opt_state", meta["opt_state"], opt_like, opt_paths)
        target = {
            "model": [np.zeros(x.shape, x.dtype) for x in model_like],
            "opt_state": [np.zeros(x.shape, x.dtype) for x in opt_like],
            "key": np.zeros(meta["key_shape"], np.uint32),
        }
        from ._process_state import ProcessStateRestore  # orbax handler classes

        ocp = _orbax()
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target), data=ProcessStateRestore()
            ),
        )
        state = restored["state"]
        key = state["key"]
        if meta["key_impl"] is not None:
            key = jax.random.wrap_key_data(key, impl=meta["key_impl"])
        return Checkpoint(
            model=_fill(model, state["model"]),
            opt_state=_fill(opt_state, state["opt_state"]),
            step=int(meta["step"]),
            key=key,
            data_state=restored["data"],
            config=meta["config"],
        )

    def _resolve(self, step: int | None) -> int:
        if step is None:
            step = self.latest_step()
            if step is None:
                raise FileNotFoundError(f"{self.directory}: no complete checkpoint to restore.")
        elif step not in self._manager.all_steps():
            raise FileNotFoundError(
                f"{self.directory}: no checkpoint at step {step}; there are {self.all_steps()}."
            )
        return step

    def _check(self, step, name, saved, like, paths):
        where = f"{self.directory} (step {step}), {name}"
        if saved["paths"] != paths:
            raise ValueError(
                f"{where}: the checkpoint holds {len(saved['paths'])} arrays, the given "
                f"{name} {len(paths)}; was it saved for another architecture or optimiser? "
                f"First difference: {_first_difference(saved['paths'], paths)}."
            )
        for path, (shape, dtype), x in zip(paths, saved["arrays"], like, strict=True):
            if tuple(shape) != tuple(x.shape) or dtype != str(np.dtype(x.dtype)):
                raise ValueError(
                    f"{where}: array {path} was saved as {dtype}{tuple(shape)}; the given "
                    f"{name} has {np.dtype(x.dtype)}{tuple(x.shape)}."
                )

    def wait(self) -> None:
        """Block until background saves are written."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finish pending saves and release the manager."""
        self._manager.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _os_error(error: BaseException) -> OSError | None:
    """The first ``OSError`` in ``error``'s chain of causes (orbax re-raises its own)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__  # pyright: ignore[reportAssignmentType]
    return None


def _remove_unfinished(directory: str) -> None:
    """Delete the temporary step folders a killed or failed save left (orbax names them
    ``*.orbax-checkpoint-tmp*``): they are never valid checkpoints. Process 0 only."""
    if jax.process_index() != 0 or not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if ".orbax-checkpoint-tmp" in name:
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)


def _first_difference(saved: list[str], given: list[str]) -> str:
    for i, (a, b) in enumerate(zip(saved, given, strict=False)):
        if a != b:
            return f"array {i} is {a} in the checkpoint but {b} here"
    shorter, longer = (saved, given) if len(saved) < len(given) else (given, saved)
    return f"array {len(shorter)} ({longer[len(shorter)]}) exists on one side only"


def _fill(like, leaves):
    """``like`` with its array leaves replaced, in order, by ``leaves``."""
    arrays, static = eqx.partition(like, _is_array)
    treedef = jax.tree_util.tree_structure(arrays)
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, list(leaves)), static)
