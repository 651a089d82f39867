"""The 2x2 squeeze: space to depth on one image ``(H, W, C)`` and back."""

from typing import Literal, get_args

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._typing import Shape
from ._base import AbstractBijector
from ._choices import check_choice

SqueezeOrdering = Literal["space_to_depth", "checkerboard"]
"""The channel order of :class:`Squeeze`'s 2x2 blocks: ``"space_to_depth"`` (row-major) or
``"checkerboard"`` (multi-scale RealNVP's: one checkerboard colour per half of the
channels)."""

SQUEEZE_ORDERINGS: tuple[SqueezeOrdering, ...] = get_args(SqueezeOrdering)

# Slot of each pixel of a 2x2 block, indexed [row][col], for each ordering. The output
# channel of input channel c at slot s is s * C + c.
_SLOTS = {
    # row-major: (0,0), (0,1), (1,0), (1,1), as tf.nn.space_to_depth.
    "space_to_depth": ((0, 1), (2, 3)),
    # multi-scale RealNVP's squeeze_2x2_ordered: (0,0), (1,1) first, then (0,1), (1,0), so the
    # first half of the channels is one checkerboard colour and the second half the other.
    "checkerboard": ((0, 2), (3, 1)),
}


def image_shape_error(owner: str, shape) -> str | None:
    """Why ``shape`` is not an image ``(H, W, C)`` (None if it is one)."""
    if len(shape) != 3 or min(shape) < 1:
        return (
            f"{owner}: expected one image of shape (H, W, C) (height, width, channels; "
            f"batches go through jax.vmap); got shape {tuple(shape)}."
        )
    return None


class Squeeze(AbstractBijector):
    """Space to depth: ``(H, W, C) -> (H/2, W/2, 4C)``, each 2x2 block becoming channels.

    ``ordering="space_to_depth"`` puts the four pixels of a block in row-major order
    (channel ``(2*row + col) * C + c``); ``ordering="checkerboard"`` uses multi-scale
    RealNVP's order, pixels (0,0), (1,1), (0,1), (1,0), so that a channel mask on the output
    splits the input along a checkerboard. A permutation: log-determinant 0.

    Args:
        shape: the image shape ``(H, W, C)``, ``H`` and ``W`` even.
        ordering: ``"space_to_depth"`` or ``"checkerboard"``, the order of a block's pixels
            in the output channels.

    Raises:
        ValueError: if ``shape`` is not ``(H, W, C)``, ``H`` or ``W`` is odd, or
            ``ordering`` is not one of the two.
    """

    exact_inverse = True  # one closed-form pass each way

    shape: Shape = eqx.field(static=True)
    ordering: SqueezeOrdering = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True)

    def __init__(self, shape: Shape, ordering: SqueezeOrdering = "space_to_depth"):
        error = image_shape_error("Squeeze", shape)
        if error:
            raise ValueError(error)
        h, w, c = shape
        if h % 2 or w % 2:
            raise ValueError(
                f"Squeeze: height and width must be even to form 2x2 blocks; got image shape "
                f"{tuple(shape)}. Crop or pad the image, or squeeze fewer times."
            )
        check_choice("Squeeze", "ordering", ordering, SQUEEZE_ORDERINGS)
        self.shape = (h, w, c)
        self.ordering = ordering
        self.cond_shape = None

    @property
    def out_shape(self) -> Shape:
        """``(H/2, W/2, 4C)``."""
        h, w, c = self.shape
        return (h // 2, w // 2, 4 * c)

    def _order(self) -> np.ndarray:
        """Block pixels (row-major index) in output-slot order."""
        slots = np.asarray(_SLOTS[self.ordering]).ravel()
        return np.argsort(slots)

    def forward_and_log_det(self, x, condition):
        h, w, c = self.shape
        blocks = x.reshape(h // 2, 2, w // 2, 2, c).transpose(0, 2, 1, 3, 4)
        blocks = blocks.reshape(h // 2, w // 2, 4, c)
        order = self._order()
        if not np.array_equal(order, np.arange(4)):
            blocks = blocks[:, :, order]
        return blocks.reshape(self.out_shape), jnp.zeros((), x.dtype)

    def inverse_and_log_det(self, y, condition):
        h, w, c = self.shape
        blocks = y.reshape(h // 2, w // 2, 4, c)
        order = self._order()
        if not np.array_equal(order, np.arange(4)):
            blocks = blocks[:, :, np.argsort(order)]
        x = blocks.reshape(h // 2, w // 2, 2, 2, c).transpose(0, 2, 1, 3, 4)
        return x.reshape(self.shape), jnp.zeros((), y.dtype)
