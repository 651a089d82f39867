"""Bijectors: invertible maps of one event with exact log-determinants."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._actnorm import ActNorm as ActNorm
from ._autoregressive import InverseAutoregressive as InverseAutoregressive
from ._autoregressive import MaskedAutoregressive as MaskedAutoregressive
from ._base import AbstractBijector as AbstractBijector
from ._batch_norm import BatchNorm as BatchNorm
from ._chain import Chain as Chain
from ._composite import AbstractComposite as AbstractComposite
from ._composite import AbstractPlumbing as AbstractPlumbing
from ._composite import Child as Child
from ._composite import MergeChannels as MergeChannels
from ._composite import Reshape as Reshape
from ._composite import Scan as Scan
from ._composite import SplitChannels as SplitChannels
from ._conv1x1 import InvertibleConv1x1 as InvertibleConv1x1
from ._conv1x1 import InvertibleConv1x1LU as InvertibleConv1x1LU
from ._conv_coupling import ImageConditioner as ImageConditioner
from ._conv_coupling import conv_affine_coupling as conv_affine_coupling
from ._coupling import Coupling as Coupling
from ._coupling import additive_coupling as additive_coupling
from ._coupling import affine_coupling as affine_coupling
from ._coupling import mlp_coupling as mlp_coupling
from ._elementwise import AbstractElementwise as AbstractElementwise
from ._elementwise import Affine as Affine
from ._elementwise import Exp as Exp
from ._elementwise import Identity as Identity
from ._elementwise import LeakyReLU as LeakyReLU
from ._elementwise import Logit as Logit
from ._elementwise import Rescale as Rescale
from ._elementwise import Scale as Scale
from ._elementwise import Sigmoid as Sigmoid
from ._elementwise import Softplus as Softplus
from ._elementwise import Tanh as Tanh
from ._embed import EmbedCondition as EmbedCondition
from ._from_distrax import FromDistrax as FromDistrax
from ._invert import Invert as Invert
from ._jet_coupling import JetSplit as JetSplit
from ._jet_coupling import jet_coupling as jet_coupling
from ._jet_coupling import jet_mask as jet_mask
from ._logit_preprocess import LogitPreprocess as LogitPreprocess
from ._masks import alternating_mask as alternating_mask
from ._masks import channel_mask as channel_mask
from ._masks import checkerboard_mask as checkerboard_mask
from ._masks import half_mask as half_mask
from ._multiscale import MultiScale as MultiScale
from ._patchify import Patchify as Patchify
from ._permute import Permute as Permute
from ._permute import Reverse as Reverse
from ._permute import random_permutation as random_permutation
from ._spline import RationalQuadraticSplineTransformer as RationalQuadraticSplineTransformer
from ._spline_coupling import spline_coupling as spline_coupling
from ._split_prior import split_prior as split_prior
from ._squeeze import Squeeze as Squeeze
from ._squeeze import SqueezeOrdering as SqueezeOrdering
from ._stack import Stack as Stack
from ._stack import with_unroll as with_unroll
from ._transformer_autoregressive import TransformerAutoregressive as TransformerAutoregressive
from ._transformers import AbstractTransformer as AbstractTransformer
from ._transformers import AdditiveTransformer as AdditiveTransformer
from ._transformers import AffineTransformer as AffineTransformer
from ._transformers import SoftplusAffineTransformer as SoftplusAffineTransformer
from ._transformers import StandardizeTransformer as StandardizeTransformer

__all__ = [
    "AbstractBijector",
    "AbstractComposite",
    "AbstractElementwise",
    "AbstractPlumbing",
    "AbstractTransformer",
    "ActNorm",
    "AdditiveTransformer",
    "Affine",
    "AffineTransformer",
    "BatchNorm",
    "Chain",
    "Child",
    "Coupling",
    "EmbedCondition",
    "Exp",
    "FromDistrax",
    "Identity",
    "ImageConditioner",
    "InverseAutoregressive",
    "Invert",
    "InvertibleConv1x1",
    "InvertibleConv1x1LU",
    "JetSplit",
    "LeakyReLU",
    "Logit",
    "LogitPreprocess",
    "MaskedAutoregressive",
    "MergeChannels",
    "MultiScale",
    "Patchify",
    "Permute",
    "RationalQuadraticSplineTransformer",
    "Rescale",
    "Reshape",
    "Reverse",
    "Scale",
    "Scan",
    "Sigmoid",
    "Softplus",
    "SoftplusAffineTransformer",
    "SplitChannels",
    "Squeeze",
    "SqueezeOrdering",
    "Stack",
    "StandardizeTransformer",
    "Tanh",
    "ToDistrax",
    "TransformerAutoregressive",
    "additive_coupling",
    "affine_coupling",
    "alternating_mask",
    "channel_mask",
    "checkerboard_mask",
    "conv_affine_coupling",
    "half_mask",
    "jet_coupling",
    "jet_mask",
    "mlp_coupling",
    "random_permutation",
    "spline_coupling",
    "split_prior",
    "with_unroll",
]

if _TYPE_CHECKING:
    from ._to_distrax import ToDistrax as ToDistrax

# Names whose modules import distrax (and TensorFlow Probability, seconds to import): loaded
# on first access (PEP 562), so importing flowkit does not pay for them.
_LAZY = {"ToDistrax": "._to_distrax"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
