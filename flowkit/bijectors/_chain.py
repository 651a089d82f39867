"""Composition of bijectors applied one after another."""

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp

from .._typing import Array, Shape
from ._base import AbstractBijector


def common_cond_shape(layers: Sequence[AbstractBijector]) -> Shape | None:
    """The one condition shape shared by the conditional layers (None if there are none)."""
    shapes = {layer.cond_shape for layer in layers if layer.cond_shape is not None}
    if len(shapes) > 1:
        raise ValueError(
            f"All conditional layers must take the same condition shape; got {sorted(shapes)}."
        )
    return shapes.pop() if shapes else None


def call_layer(layer: AbstractBijector, method: str, x: Array, condition: Array | None):
    """Call ``layer.method`` passing the condition only to conditional layers."""
    cond = condition if layer.cond_shape is not None else None
    return getattr(layer, method)(x, cond)


class Chain(AbstractBijector):
    """``Chain([f1, f2, f3])`` maps ``x`` to ``f3(f2(f1(x)))``: layers apply in list order.

    Layers may change the event shape (e.g. a squeeze) as long as each output shape is the
    next input shape. ``shape`` is the input shape; ``out_shape`` the output shape.
    Conditional layers get the chain's condition; unconditional ones get none.
    """

    layers: tuple[AbstractBijector, ...]
    shape: Shape = eqx.field(static=True)
    out_shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(self, layers: Sequence[AbstractBijector]):
        if len(layers) == 0:
            raise ValueError("Chain needs at least one layer; use Identity(shape) for none.")
        for i, (a, b) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
            out = getattr(a, "out_shape", a.shape)
            if tuple(out) != tuple(b.shape):
                raise ValueError(
                    f"Chain: layer {i} ({type(a).__name__}) outputs shape {tuple(out)} but "
                    f"layer {i + 1} ({type(b).__name__}) expects {tuple(b.shape)}."
                )
        self.layers = tuple(layers)
        self.shape = tuple(layers[0].shape)
        self.out_shape = tuple(getattr(layers[-1], "out_shape", layers[-1].shape))
        self.cond_shape = common_cond_shape(layers)

    def _forward_and_log_det(self, x, condition):
        log_det = jnp.zeros((), x.dtype)
        for layer in self.layers:
            x, ld = call_layer(layer, "forward_and_log_det", x, condition)
            log_det = log_det + ld
        return x, log_det

    def _inverse_and_log_det(self, y, condition):
        log_det = jnp.zeros((), y.dtype)
        for layer in reversed(self.layers):
            y, ld = call_layer(layer, "inverse_and_log_det", y, condition)
            log_det = log_det + ld
        return y, log_det
