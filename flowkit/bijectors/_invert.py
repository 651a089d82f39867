"""Swap a bijector's forward and inverse directions."""

import equinox as eqx

from .._typing import Shape
from ._base import AbstractBijector
from ._composite import AbstractComposite, Child


class Invert(AbstractComposite):
    """``Invert(b).forward == b.inverse`` and ``Invert(b).inverse == b.forward``.

    ``Invert(b)`` takes events of ``b.out_shape`` and returns ``b.shape``. E.g. the image
    factories write their models in the density direction and wrap them in ``Invert``.

    Args:
        bijector: the flowkit bijector to run backwards.

    Raises:
        TypeError: if ``bijector`` is not a flowkit bijector.
    """

    bijector: AbstractBijector
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(self, bijector: AbstractBijector):
        if not isinstance(bijector, AbstractBijector):
            raise TypeError(f"Invert: expected a flowkit bijector; got {type(bijector).__name__}.")
        self.bijector = bijector
        self.shape = tuple(bijector.out_shape)
        self.cond_shape = bijector.cond_shape

    @property
    def out_shape(self) -> Shape:
        """The wrapped bijector's input shape."""
        return tuple(self.bijector.shape)

    def pieces(self):
        return (Child(lambda s: s.bijector, inverted=True),)
