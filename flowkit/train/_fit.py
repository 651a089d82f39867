"""``flowkit.fit``: maximum likelihood with a validation split and early stopping, as a
short recipe over :func:`flowkit.train.train_loop` (``flowkit train`` is it behind a
command line).

After every epoch the validation loss is computed (NLL in nats; bits/dim for pixels,
dequantized with fixed noise as in :func:`flowkit.evaluate`), the flow with the lowest one
is kept, and training stops after ``stopping.patience`` epochs without improvement or when
the step budget is spent; the best flow is returned, not the last. Every epoch draws a new
shuffle and drops its last partial batch (``N % batch_size`` rows, other ones each epoch),
so all steps see ``batch_size`` examples and compile once.

The flow decides how it is run: ActNorm layers initialised on data
(:func:`flowkit.data_init`, called before fit), the memory mode
(:func:`flowkit.with_memory_mode`) and how its stacks loop (:func:`flowkit.with_unroll`). A
flow with batch norm (training mode) advances its running statistics every step (not under
"pmap") and is validated and returned in inference mode.
"""

import os
from collections.abc import Callable
from typing import Any

import optax

from .._typing import PRNGKeyArray
from ..flows._flow import Flow
from ._ema import ema_model, has_ema
from ._fit_data import array_data, is_loader, loader_data
from ._history import FitHistory
from ._loop import OnNonFinite, train_loop
from ._loss_objects import AbstractLoss
from ._optimizer import default_optimizer, init_opt_state
from ._parallel import Parallel, ParallelMode
from ._run_dir import RunDir
from ._stopping import DEFAULT_STOPPING, Stopping

Optimizer = optax.GradientTransformation | Callable[[int], optax.GradientTransformation]


def _optimizer(optimizer: Optimizer | None, total_steps: int) -> optax.GradientTransformation:
    if optimizer is None:
        return default_optimizer(total_steps)
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    return optimizer(total_steps)


def _batch_norm_update(flow: Flow, loss: AbstractLoss) -> Callable | None:
    """For a flow with training-mode batch norm: the step's ``after_update`` that advances
    its running statistics on the batch as the loss saw it; None for other flows."""
    from .._engine._batch_layers import has_batch_norm
    from ..flows import advance_batch_norm

    if not has_batch_norm(flow):
        return None
    return lambda model, x, condition, keys: advance_batch_norm(
        model, loss.inputs(keys, x), condition
    )


def _selector(batch_norm: bool) -> Callable[[Any, Any], Any]:
    """The model that is validated, kept and returned: the parameter average when the
    optimiser keeps one, batch norm on its running statistics."""
    from ..flows import batch_norm_inference

    def select(model, opt_state):
        if has_ema(opt_state):
            model = ema_model(model, opt_state)
        return batch_norm_inference(model) if batch_norm else model

    return select


def fit(
    key: PRNGKeyArray,
    flow: Flow,
    data: Any,
    *,
    validation: Any = 0.1,
    loss: AbstractLoss | None = None,
    optimizer: Optimizer | None = None,
    batch_size: int = 128,
    stopping: Stopping = DEFAULT_STOPPING,
    run: RunDir | str | os.PathLike | None = None,
    parallel: Parallel | ParallelMode = "jit",
    on_nonfinite: OnNonFinite = "skip",
    progress: bool = True,
) -> tuple[Flow, FitHistory]:
    """Fit ``flow`` to ``data`` by maximum likelihood (see the module docstring).

    Args:
        key: seeds the validation split, the shuffling and the steps' noise.
        flow: the flow to train (its base distribution stays fixed).
        data: an array ``(N, *flow.shape)``, ``(x, condition)``, a ``flowkit.data.ArrayDataset``
            (pixels with its ``num_levels``) or a ``flowkit.data.Loader`` (its batch size,
            shuffling and dequantization). Rows with NaN or inf are reported once and left
            out (or refused: ``on_nonfinite``); float data are cast to the flow's dtype.
        validation: a fraction of the rows held out at random (0: no validation; the
            epochs' mean training loss then chooses the flow kept and when to stop), or
            validation data in any form ``data`` takes but a Loader.
        loss: a :class:`NLL` or :class:`BitsPerDim` (with ``noise_std`` for TarFlow's noise
            augmentation). Default: ``BitsPerDim`` for integer data (pixels in
            ``0..num_levels-1``, 256 levels unless the data set says otherwise), else NLL.
        optimizer: an optax optimiser, or a function of the step budget returning one.
            Default: :func:`default_optimizer` at 1e-3, warm-up then cosine decay over the
            step budget (``stopping``'s epochs times the steps per epoch, or ``max_steps``):
            a run that stops early ends before its rate has decayed. Chain
            :func:`flowkit.train.ema` into it to validate, keep and return a parameter average.
        batch_size: examples per step (for arrays; a Loader has its own).
        stopping: epochs, patience and the step cap (:class:`Stopping`).
        run: a :class:`RunDir` (or a path for ``RunDir(path)``): models, history, metrics and
            checkpoints are written there, and a killed run resumes exactly.
        parallel: "jit", "pmap", "shard", or a :class:`Parallel` with a device count.
        on_nonfinite: "skip" leaves out non-finite rows and skips non-finite steps (summed
            up once per epoch); "stop" refuses such rows and stops at such a step.
        progress: show a progress bar and a line per epoch.

    Returns:
        The best flow and the :class:`FitHistory`.

    Raises:
        ValueError: data or options that do not fit the flow (one line); a ``RunDirError``
            when ``run`` holds a run and neither resume nor overwrite was asked.
        NonFiniteError, DivergenceError: see :func:`train_loop`.
        WriteError: a file of the run could not be written (disk full, permissions).
    """
    import jax

    k_split, k_train = jax.random.split(key)
    if is_loader(data):
        prepared = loader_data(flow, data, validation, loss, on_nonfinite)
    else:
        prepared = array_data(
            k_split, k_train, flow, data, validation, loss, batch_size, on_nonfinite
        )
    optimizer = _optimizer(optimizer, stopping.total_steps(prepared.steps_per_epoch))
    parallel = parallel if isinstance(parallel, Parallel) else Parallel(parallel)
    batch_norm = _batch_norm_update(flow, prepared.loss)
    step, split = parallel.make_step(optimizer, prepared.loss, prepared.batch_size, batch_norm)
    result = train_loop(
        k_train, step, flow, init_opt_state(optimizer, flow), prepared.batches,
        steps_per_epoch=prepared.steps_per_epoch, stopping=stopping,
        validate=prepared.validator(), select=_selector(batch_norm is not None),
        run=run if run is None or isinstance(run, RunDir) else RunDir(run),
        on_nonfinite=on_nonfinite, progress=progress,
        prepare_batch=_chain(prepared.prepare, split), metric=prepared.loss.metric,
    )  # fmt: skip
    return result.best, result.history


def _chain(first: Callable | None, second: Callable | None) -> Callable | None:
    """``second(first(batch))``, skipping the missing ones."""
    if first is None or second is None:
        return first or second
    return lambda batch: second(first(batch))
