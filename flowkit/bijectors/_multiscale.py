"""Multi-scale composition (RealNVP, Glow): factor half the channels out at each scale."""

import math

import equinox as eqx

from .._typing import Array, Shape
from ._base import AbstractBijector
from ._composite import (
    AbstractComposite,
    Child,
    MergeChannels,
    Reshape,
    SplitChannels,
    common_cond_shape,
)
from ._squeeze import image_shape_error


class MultiScale(AbstractComposite):
    """One scale of a multi-scale flow, written in the density direction (image to latent).

    ``transform`` (e.g. ``Chain([Squeeze(...), steps])``) maps the image ``x`` of ``shape``
    to ``h`` of shape ``(H', W', C')`` with as many entries. The last ``C' - C' // 2``
    channels of ``h`` are factored out: they are latents already. The first ``C' // 2``
    channels go through ``inner``, the next scale (a shape-preserving bijector, e.g. another
    MultiScale), or, with ``inner=None`` (the last scale), nothing is factored out. The
    latent is ``concatenate([inner(h_kept), h_factored], axis=-1)`` reshaped to ``shape``,
    so the whole map is shape-preserving and the log-determinant is that of ``transform``
    plus that of ``inner``. In a :class:`flowkit.Flow` use ``Invert(multiscale)``: the
    base then draws every factored-out latent, and ``temperature`` scales them all.

    Args:
        transform: maps the image of ``shape`` to ``h`` of shape ``(H', W', C')`` with as
            many entries, e.g. a squeeze followed by flow steps.
        inner: the next scale, mapping shape ``(H', W', C' // 2)`` to itself, or None for
            the last scale.

    Raises:
        ValueError: if ``transform``'s output is not an image ``(H', W', C')``, changes the
            number of entries, or ``inner`` does not map ``(H', W', C' // 2)`` to itself.
    """

    transform: AbstractBijector
    inner: AbstractBijector | None
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(self, transform: AbstractBijector, inner: AbstractBijector | None = None):
        shape, hidden = tuple(transform.shape), tuple(transform.out_shape)
        error = image_shape_error("MultiScale", hidden)
        if error:
            raise ValueError(error + " (the output shape of transform)")
        if math.prod(hidden) != math.prod(shape):
            raise ValueError(
                f"MultiScale: transform must keep the number of entries; it maps {shape} to "
                f"{hidden}."
            )
        if inner is not None:
            want = hidden[:2] + (hidden[2] // 2,)
            if tuple(inner.shape) != want or tuple(inner.out_shape) != want:
                raise ValueError(
                    f"MultiScale: inner must map the kept half {want} of transform's output "
                    f"{hidden} to itself; got {type(inner).__name__} from {tuple(inner.shape)} "
                    f"to {tuple(inner.out_shape)}."
                )
        self.transform = transform
        self.inner = inner
        self.shape = shape
        self.cond_shape = common_cond_shape([transform] + ([] if inner is None else [inner]))

    @property
    def hidden_shape(self) -> Shape:
        """The shape ``(H', W', C')`` of ``transform``'s output."""
        return tuple(self.transform.out_shape)

    @property
    def num_kept(self) -> int:
        """Channels of ``transform``'s output passed on to ``inner`` (all, if it is None)."""
        c = self.hidden_shape[2]
        return c if self.inner is None else c // 2

    def split(self, h: Array) -> tuple[Array, Array]:
        """Split ``transform``'s output into the kept and the factored-out channels.

        Args:
            h: shape ``(..., H', W', C')``, leading batch axes allowed.

        Returns:
            ``(kept, factored)``, shapes ``(..., H', W', num_kept)`` and
            ``(..., H', W', C' - num_kept)``.
        """
        return h[..., : self.num_kept], h[..., self.num_kept :]

    def pieces(self):
        transform = Child(lambda m: m.transform)
        reshape = Reshape(self.hidden_shape, self.shape)
        if self.inner is None:
            return (transform, reshape)
        inner = Child(lambda m: m.inner)
        return (
            transform,
            SplitChannels(self.num_kept),
            inner,
            MergeChannels(self.num_kept),
            reshape,
        )
