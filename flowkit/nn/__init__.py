"""Conditioner networks: they produce the parameters of a transformer."""

from ._made import MADE as MADE
from ._mlp import MLP as MLP
