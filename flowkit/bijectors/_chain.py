"""Composition of bijectors applied one after another."""

from collections.abc import Sequence

import equinox as eqx

from .._typing import Shape
from ._base import AbstractBijector
from ._composite import AbstractComposite, Child, common_cond_shape


class Chain(AbstractComposite):
    """``Chain([f1, f2, f3])`` maps ``x`` to ``f3(f2(f1(x)))``: layers apply in list order.

    Layers may change the event shape (e.g. a squeeze) as long as each output shape is the
    next input shape. ``shape`` is the input shape; ``out_shape`` the output shape.
    Conditional layers get the chain's condition; unconditional ones get none.

    Args:
        layers: the bijectors in the order they apply; each one's ``out_shape`` must equal
            the next one's ``shape``.

    Raises:
        ValueError: if ``layers`` is empty or two neighbours' shapes do not match.
        TypeError: if a layer is not a flowkit bijector.
    """

    layers: tuple[AbstractBijector, ...]
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(self, layers: Sequence[AbstractBijector]):
        layers = tuple(layers)
        if len(layers) == 0:
            raise ValueError("Chain needs at least one layer; use Identity(shape) for none.")
        for i, layer in enumerate(layers):
            if not isinstance(layer, AbstractBijector):
                raise TypeError(
                    f"Chain: layer {i} is a {type(layer).__name__}, not a flowkit bijector "
                    "(wrap a distrax bijector with FromDistrax)."
                )
        for i, (a, b) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
            if tuple(a.out_shape) != tuple(b.shape):
                raise ValueError(
                    f"Chain: layer {i} ({type(a).__name__}) outputs shape {tuple(a.out_shape)} "
                    f"but layer {i + 1} ({type(b).__name__}) expects {tuple(b.shape)}."
                )
        self.layers = layers
        self.shape = tuple(layers[0].shape)
        self.cond_shape = common_cond_shape(layers)

    @property
    def out_shape(self) -> Shape:
        """The last layer's output shape."""
        return tuple(self.layers[-1].out_shape)

    def pieces(self):
        return tuple(Child(lambda c, i=i: c.layers[i]) for i in range(len(self.layers)))
