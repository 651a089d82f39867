"""Training: pure jitted steps (one device, pmap, sharded jit), losses, the default optimiser,
checkpoints and the training loop."""

from ..flows._frozen_base import trainable_filter as trainable_filter
from ._array_batches import ArrayBatches as ArrayBatches
from ._checkpoint import Checkpoint as Checkpoint
from ._checkpoint import Checkpointer as Checkpointer
from ._ema import ema_params as ema_params
from ._ema import params_ema as params_ema
from ._loop import TrainResult as TrainResult
from ._loop import train_loop as train_loop
from ._losses import Loss as Loss
from ._losses import bits_per_dim_loss as bits_per_dim_loss
from ._losses import nll_loss as nll_loss
from ._losses import split_batch as split_batch
from ._metrics_log import MetricsLog as MetricsLog
from ._metrics_log import read_metrics as read_metrics
from ._noise import noise_augmented_loss as noise_augmented_loss
from ._nonfinite import NonFiniteError as NonFiniteError
from ._optimizer import default_optimizer as default_optimizer
from ._optimizer import init_opt_state as init_opt_state
from ._optimizer import learning_rate_schedule as learning_rate_schedule
from ._optimizer import optimizer_update as optimizer_update
from ._pmap_step import make_pmap_step as make_pmap_step
from ._pmap_step import replicate as replicate
from ._pmap_step import split_for_devices as split_for_devices
from ._pmap_step import unreplicate as unreplicate
from ._sharded_step import data_mesh as data_mesh
from ._sharded_step import make_sharded_step as make_sharded_step
from ._step import make_step as make_step
from ._train_step import TrainStep as TrainStep
from ._train_step import to_host as to_host
from ._update import update_on_batch as update_on_batch
