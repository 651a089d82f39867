"""Conditioner networks: they produce the parameters of a transformer."""

from ._mlp import MLP as MLP
