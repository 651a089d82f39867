"""Conditioner networks: they produce the parameters of a transformer."""

from ._conv import Conv2d as Conv2d
from ._conv_resnet import ConvResNet as ConvResNet
from ._made import MADE as MADE
from ._mlp import MLP as MLP
from ._transformer import CausalTransformer as CausalTransformer
from ._transformer import KVCache as KVCache

__all__ = ["MADE", "MLP", "CausalTransformer", "Conv2d", "ConvResNet", "KVCache"]
