"""Patchify: one image ``(H, W, C)`` to a sequence of flattened patches and back."""

import equinox as eqx
import jax.numpy as jnp

from .._typing import Shape
from ._base import AbstractBijector
from ._squeeze import image_shape_error


class Patchify(AbstractBijector):
    """``(H, W, C) -> (H/p * W/p, p*p*C)``: non-overlapping ``p x p`` patches, row-major.

    Patch ``i * (W/p) + j`` holds the pixels of rows ``i*p..i*p+p-1`` and columns
    ``j*p..j*p+p-1``, flattened in (row, column, channel) order: the token sequence of a
    vision transformer (TarFlow, Jet). A permutation: log-determinant 0.

    Args:
        image_shape: the event shape ``(H, W, C)``, ``H`` and ``W`` divisible by
            ``patch_size``.
        patch_size: ``p``, the side of a square patch, a positive int.

    Raises:
        ValueError: if ``image_shape`` is not ``(H, W, C)``, ``patch_size`` is not a
            positive int, or it does not divide ``H`` and ``W``.
    """

    shape: Shape = eqx.field(static=True)
    patch_size: int = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True)

    def __init__(self, image_shape: Shape, patch_size: int):
        error = image_shape_error("Patchify", image_shape)
        if error:
            raise ValueError(error)
        h, w, c = image_shape
        if not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(f"Patchify: patch_size must be a positive int; got {patch_size!r}.")
        if h % patch_size or w % patch_size:
            raise ValueError(
                f"Patchify: height and width must be divisible by patch_size={patch_size}; got "
                f"image shape {tuple(image_shape)}. Pick a patch size dividing both "
                f"({h} and {w}), or crop/pad the image."
            )
        self.shape = (h, w, c)
        self.patch_size = patch_size
        self.cond_shape = None

    @property
    def out_shape(self) -> Shape:
        """``(H/p * W/p, p*p*C)``."""
        h, w, c = self.shape
        p = self.patch_size
        return ((h // p) * (w // p), p * p * c)

    def forward_and_log_det(self, x, condition):
        h, w, c = self.shape
        p = self.patch_size
        patches = x.reshape(h // p, p, w // p, p, c).transpose(0, 2, 1, 3, 4)
        return patches.reshape(self.out_shape), jnp.zeros((), x.dtype)

    def inverse_and_log_det(self, y, condition):
        h, w, c = self.shape
        p = self.patch_size
        x = y.reshape(h // p, w // p, p, p, c).transpose(0, 2, 1, 3, 4)
        return x.reshape(self.shape), jnp.zeros((), y.dtype)
