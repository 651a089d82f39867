"""flowkit: normalizing flows for JAX, built on Equinox.

One event per call: a bijector maps one example; batches go through ``jax.vmap``, or
through :class:`Flow`, whose ``log_prob`` and ``sample`` take leading batch dimensions.

This module is the public face: what a user reaches for first. The full catalogues live in
the subpackages (``flowkit.bijectors``: every bijector, mask and transformer;
``flowkit.flows``: bases, image helpers, TarFlow guidance; ``flowkit.train``: steps,
checkpoints, the loop; ``flowkit.nn``: conditioners; ``flowkit.data``: data sets and the
Grain loader; ``flowkit.io``, ``flowkit.plots``, ``flowkit.testing``, ``flowkit.distributed``).
Grain, matplotlib and distrax (TensorFlow Probability) load on first use.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

# Bijectors: the contract, composition, and the common layers
from .bijectors import AbstractBijector as AbstractBijector
from .bijectors import AbstractComposite as AbstractComposite
from .bijectors import ActNorm as ActNorm
from .bijectors import Affine as Affine
from .bijectors import BatchNorm as BatchNorm
from .bijectors import Chain as Chain
from .bijectors import Coupling as Coupling
from .bijectors import Exp as Exp
from .bijectors import FromDistrax as FromDistrax
from .bijectors import Identity as Identity
from .bijectors import InverseAutoregressive as InverseAutoregressive
from .bijectors import Invert as Invert
from .bijectors import InvertibleConv1x1 as InvertibleConv1x1
from .bijectors import InvertibleConv1x1LU as InvertibleConv1x1LU
from .bijectors import LeakyReLU as LeakyReLU
from .bijectors import Logit as Logit
from .bijectors import MaskedAutoregressive as MaskedAutoregressive
from .bijectors import MultiScale as MultiScale
from .bijectors import Permute as Permute
from .bijectors import Rescale as Rescale
from .bijectors import Reverse as Reverse
from .bijectors import Scale as Scale
from .bijectors import Sigmoid as Sigmoid
from .bijectors import Softplus as Softplus
from .bijectors import Squeeze as Squeeze
from .bijectors import Stack as Stack
from .bijectors import Tanh as Tanh
from .bijectors import additive_coupling as additive_coupling
from .bijectors import affine_coupling as affine_coupling
from .bijectors import spline_coupling as spline_coupling
from .bijectors import with_unroll as with_unroll

# Toy data sets (the 2-D densities of the examples)
from .data import checkerboard as checkerboard
from .data import circles as circles
from .data import gaussian_mixture as gaussian_mixture
from .data import two_moons as two_moons

# Flows: the model, its factories and bases, and what is set on a flow before training
from .flows import Flow as Flow
from .flows import bits_per_dim as bits_per_dim
from .flows import count_parameters as count_parameters
from .flows import data_init as data_init
from .flows import dequantize as dequantize
from .flows import glow as glow
from .flows import iaf as iaf
from .flows import maf as maf
from .flows import nice as nice
from .flows import nsf as nsf
from .flows import realnvp as realnvp
from .flows import realnvp_multiscale as realnvp_multiscale
from .flows import standard_logistic as standard_logistic
from .flows import standard_normal as standard_normal
from .flows import tarflow as tarflow
from .flows import uniform as uniform
from .flows import with_memory_mode as with_memory_mode
from .flows import with_preprocessing as with_preprocessing

# Saving and loading
from .io import ModelFileError as ModelFileError
from .io import load as load
from .io import model_info as model_info
from .io import save as save

# Training and evaluation: fit and the objects it composes
from .train import NLL as NLL
from .train import BitsPerDim as BitsPerDim
from .train import Evaluation as Evaluation
from .train import FitHistory as FitHistory
from .train import RunDir as RunDir
from .train import Stopping as Stopping
from .train import elbo as elbo
from .train import evaluate as evaluate
from .train import fit as fit
from .train import fit_variational as fit_variational

if _TYPE_CHECKING:
    from . import bijectors as bijectors
    from . import data as data
    from . import distributed as distributed
    from . import flows as flows
    from . import io as io
    from . import nn as nn
    from . import plots as plots
    from . import testing as testing
    from . import train as train
    from .bijectors import ToDistrax as ToDistrax

__version__ = "0.1.0"

# Subpackages reachable as ``flowkit.<name>`` after ``import flowkit``, imported on first
# access (PEP 562) so that a user who only builds flows never imports Grain or matplotlib.
_SUBPACKAGES = (
    "bijectors",
    "data",
    "distributed",
    "flows",
    "io",
    "nn",
    "plots",
    "testing",
    "train",
)
# Top-level names whose modules import distrax: forwarded to the subpackage that loads them.
_LAZY = {"ToDistrax": "bijectors"}

__all__ = [  # the public face, in one list (the subpackages last)
    "AbstractBijector",
    "AbstractComposite",
    "ActNorm",
    "Affine",
    "BatchNorm",
    "BitsPerDim",
    "Chain",
    "Coupling",
    "Evaluation",
    "Exp",
    "FitHistory",
    "Flow",
    "FromDistrax",
    "Identity",
    "InverseAutoregressive",
    "Invert",
    "InvertibleConv1x1",
    "InvertibleConv1x1LU",
    "LeakyReLU",
    "Logit",
    "MaskedAutoregressive",
    "ModelFileError",
    "MultiScale",
    "NLL",
    "Permute",
    "Rescale",
    "Reverse",
    "RunDir",
    "Scale",
    "Sigmoid",
    "Softplus",
    "Squeeze",
    "Stack",
    "Stopping",
    "Tanh",
    "ToDistrax",
    "additive_coupling",
    "affine_coupling",
    "bits_per_dim",
    "checkerboard",
    "circles",
    "count_parameters",
    "data_init",
    "dequantize",
    "elbo",
    "evaluate",
    "fit",
    "fit_variational",
    "gaussian_mixture",
    "glow",
    "iaf",
    "load",
    "maf",
    "model_info",
    "nice",
    "nsf",
    "realnvp",
    "realnvp_multiscale",
    "save",
    "spline_coupling",
    "standard_logistic",
    "standard_normal",
    "tarflow",
    "two_moons",
    "uniform",
    "with_memory_mode",
    "with_preprocessing",
    "with_unroll",
    "bijectors",
    "data",
    "distributed",
    "flows",
    "io",
    "nn",
    "plots",
    "testing",
    "train",
]


def __getattr__(name: str):
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__))
