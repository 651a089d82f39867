"""Training: ``fit`` and the one training loop under it, its losses, optimiser, run
directories and checkpoints, the jitted steps (one device, pmap, sharded jit), evaluation
and variational fitting."""

from ..flows._frozen_base import trainable_filter as trainable_filter
from ._array_batches import ArrayBatches as ArrayBatches
from ._checkpoint import Checkpoint as Checkpoint
from ._checkpoint import Checkpointer as Checkpointer
from ._ema import ema as ema
from ._ema import ema_model as ema_model
from ._evaluate import evaluate as evaluate
from ._evaluate import scores as scores
from ._fit import fit as fit
from ._fit_variational import elbo as elbo
from ._fit_variational import fit_variational as fit_variational
from ._history import FitHistory as FitHistory
from ._loop import ON_NONFINITE as ON_NONFINITE
from ._loop import OnNonFinite as OnNonFinite
from ._loop import TrainResult as TrainResult
from ._loop import train_loop as train_loop
from ._loss_objects import NLL as NLL
from ._loss_objects import AbstractLoss as AbstractLoss
from ._loss_objects import BitsPerDim as BitsPerDim
from ._losses import Loss as Loss
from ._losses import split_batch as split_batch
from ._metrics_log import MetricsLog as MetricsLog
from ._metrics_log import read_metrics as read_metrics
from ._nonfinite import DivergenceError as DivergenceError
from ._nonfinite import NonFiniteError as NonFiniteError
from ._optimizer import default_optimizer as default_optimizer
from ._optimizer import init_opt_state as init_opt_state
from ._optimizer import learning_rate_schedule as learning_rate_schedule
from ._optimizer import optimizer_update as optimizer_update
from ._parallel import PARALLEL_MODES as PARALLEL_MODES
from ._parallel import Parallel as Parallel
from ._parallel import ParallelMode as ParallelMode
from ._pmap_step import make_pmap_step as make_pmap_step
from ._pmap_step import replicate as replicate
from ._pmap_step import reshape_for_pmap as reshape_for_pmap
from ._pmap_step import unreplicate as unreplicate
from ._run_dir import RunDir as RunDir
from ._run_dir import RunDirError as RunDirError
from ._sharded_step import data_mesh as data_mesh
from ._sharded_step import make_sharded_step as make_sharded_step
from ._split import validation_split as validation_split
from ._stats import Evaluation as Evaluation
from ._stats import summarize as summarize
from ._step import make_step as make_step
from ._stopping import Stopping as Stopping
from ._train_step import TrainStep as TrainStep
from ._train_step import to_host as to_host
from ._update import update_on_batch as update_on_batch

__all__ = [
    "AbstractLoss", "ArrayBatches", "BitsPerDim", "Checkpoint", "Checkpointer",
    "DivergenceError", "Evaluation", "FitHistory", "Loss", "MetricsLog", "NLL",
    "NonFiniteError", "ON_NONFINITE", "OnNonFinite", "PARALLEL_MODES", "Parallel",
    "ParallelMode", "RunDir", "RunDirError", "Stopping", "TrainResult", "TrainStep",
    "data_mesh", "default_optimizer", "elbo", "ema", "ema_model", "evaluate", "fit",
    "fit_variational", "init_opt_state", "learning_rate_schedule", "make_pmap_step",
    "make_sharded_step", "make_step", "optimizer_update", "read_metrics", "replicate",
    "reshape_for_pmap", "scores", "split_batch", "summarize", "to_host", "trainable_filter",
    "unreplicate", "update_on_batch", "validation_split",
]  # fmt: skip
