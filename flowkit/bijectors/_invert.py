"""Swap a bijector's forward and inverse directions."""

import equinox as eqx

from .._typing import Shape
from ._base import AbstractBijector


class Invert(AbstractBijector):
    """``Invert(b).forward == b.inverse`` and ``Invert(b).inverse == b.forward``.

    E.g. an inverse autoregressive flow is a masked autoregressive flow, inverted.
    """

    bijector: AbstractBijector
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(self, bijector: AbstractBijector):
        if tuple(getattr(bijector, "out_shape", bijector.shape)) != tuple(bijector.shape):
            raise ValueError(
                f"Invert supports shape-preserving bijectors; {type(bijector).__name__} maps "
                f"{bijector.shape} to {bijector.out_shape}."  # type: ignore[attr-defined]
            )
        self.bijector = bijector
        self.shape = tuple(bijector.shape)
        self.cond_shape = bijector.cond_shape

    def _forward_and_log_det(self, x, condition):
        return self.bijector.inverse_and_log_det(x, condition)

    def _inverse_and_log_det(self, y, condition):
        return self.bijector.forward_and_log_det(y, condition)
