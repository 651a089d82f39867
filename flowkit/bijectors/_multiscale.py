"""Multi-scale composition (RealNVP, Glow): factor half the channels out at each scale."""

import math

import equinox as eqx
import jax.numpy as jnp

from .._typing import Array, Shape
from ._base import AbstractBijector
from ._chain import call_layer, common_cond_shape
from ._squeeze import image_shape_error


def _out_shape(bijector: AbstractBijector) -> Shape:
    return tuple(getattr(bijector, "out_shape", bijector.shape))


class MultiScale(AbstractBijector):
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
    """

    transform: AbstractBijector
    inner: AbstractBijector | None
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(self, transform: AbstractBijector, inner: AbstractBijector | None = None):
        shape, hidden = tuple(transform.shape), _out_shape(transform)
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
            if tuple(inner.shape) != want or _out_shape(inner) != want:
                raise ValueError(
                    f"MultiScale: inner must map the kept half {want} of transform's output "
                    f"{hidden} to itself; got {type(inner).__name__} from {tuple(inner.shape)} "
                    f"to {_out_shape(inner)}."
                )
        self.transform = transform
        self.inner = inner
        self.shape = shape
        self.cond_shape = common_cond_shape([transform] + ([] if inner is None else [inner]))

    @property
    def hidden_shape(self) -> Shape:
        """The shape ``(H', W', C')`` of ``transform``'s output."""
        return _out_shape(self.transform)

    @property
    def num_kept(self) -> int:
        """Channels of ``transform``'s output passed on to ``inner`` (all, if it is None)."""
        c = self.hidden_shape[2]
        return c if self.inner is None else c // 2

    def _forward_and_log_det(self, x, condition):
        h, log_det = call_layer(self.transform, "forward_and_log_det", x, condition)
        if self.inner is not None:
            kept, factored = self.split(h)
            kept, ld = call_layer(self.inner, "forward_and_log_det", kept, condition)
            h, log_det = jnp.concatenate([kept, factored], axis=-1), log_det + ld
        return h.reshape(self.shape), log_det

    def _inverse_and_log_det(self, y, condition):
        h = y.reshape(self.hidden_shape)
        log_det = jnp.zeros((), y.dtype)
        if self.inner is not None:
            kept, factored = self.split(h)
            kept, log_det = call_layer(self.inner, "inverse_and_log_det", kept, condition)
            h = jnp.concatenate([kept, factored], axis=-1)
        x, ld = call_layer(self.transform, "inverse_and_log_det", h, condition)
        return x, log_det + ld

    def split(self, h: Array) -> tuple[Array, Array]:
        """``h`` (with any leading batch axes) into its kept and factored-out channels."""
        return h[..., : self.num_kept], h[..., self.num_kept :]
