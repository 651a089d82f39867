"""Flows (a bijector over a distrax base), base distributions and factories (the 2-D toy
data sets are in flowkit.data)."""

from .._engine._batch_layers import advance_batch_norm as advance_batch_norm
from .._engine._batch_layers import batch_norm_inference as batch_norm_inference
from .._engine._batch_layers import data_init as data_init
from .._engine._batch_layers import update_batch_norm_state as update_batch_norm_state
from .._engine._memory_mode import MemoryMode as MemoryMode
from .._engine._memory_mode import backprop_plan as backprop_plan
from .._engine._modes import MemoryModeName as MemoryModeName
from .._engine._with_memory_mode import with_memory_mode as with_memory_mode
from ..bijectors._masks import MaskName as MaskName
from ._bases import make_base as make_base
from ._bases import standard_logistic as standard_logistic
from ._bases import standard_normal as standard_normal
from ._bases import uniform as uniform
from ._factories import nice as nice
from ._factories import realnvp as realnvp
from ._factories_autoregressive import NSFKind as NSFKind
from ._factories_autoregressive import PermutationName as PermutationName
from ._factories_autoregressive import iaf as iaf
from ._factories_autoregressive import maf as maf
from ._factories_autoregressive import nsf as nsf
from ._factories_image import count_parameters as count_parameters
from ._factories_image import glow as glow
from ._factories_image import realnvp_multiscale as realnvp_multiscale
from ._factory_args import TransformerName as TransformerName
from ._flow import Flow as Flow
from ._frozen_base import FrozenBase as FrozenBase
from ._frozen_base import trainable_filter as trainable_filter
from ._image_data import bits_per_dim as bits_per_dim
from ._image_data import dequantize as dequantize
from ._preprocessing import with_preprocessing as with_preprocessing
from ._tarflow import add_noise as add_noise
from ._tarflow import denoise as denoise
from ._tarflow import drop_condition as drop_condition
from ._tarflow import tarflow as tarflow
from ._tarflow import with_guidance as with_guidance

__all__ = [
    "Flow",
    "FrozenBase",
    "MaskName",
    "MemoryMode",
    "MemoryModeName",
    "NSFKind",
    "PermutationName",
    "TransformerName",
    "add_noise",
    "advance_batch_norm",
    "backprop_plan",
    "batch_norm_inference",
    "bits_per_dim",
    "count_parameters",
    "data_init",
    "denoise",
    "dequantize",
    "drop_condition",
    "glow",
    "iaf",
    "maf",
    "make_base",
    "nice",
    "nsf",
    "realnvp",
    "realnvp_multiscale",
    "standard_logistic",
    "standard_normal",
    "tarflow",
    "trainable_filter",
    "uniform",
    "update_batch_norm_state",
    "with_guidance",
    "with_memory_mode",
    "with_preprocessing",
]
