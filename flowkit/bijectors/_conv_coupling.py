"""Affine coupling on images with a convolutional ResNet conditioner (RealNVP, Glow)."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, Float, PRNGKeyArray, Shape
from ..nn._conv_resnet import ConvResNet
from ._coupling import Coupling, check_mask
from ._squeeze import image_shape_error
from ._transformers import AbstractTransformer, AffineTransformer


def _channel_split(mask: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(kept channels, transformed channels) if the mask is the same at every pixel."""
    if not (mask == mask[:1, :1]).all():
        return None
    per_channel = mask[0, 0]
    return (
        tuple(int(c) for c in np.flatnonzero(per_channel)),
        tuple(int(c) for c in np.flatnonzero(~per_channel)),
    )


class ImageConditioner(eqx.Module):
    """Feeds a coupling's kept entries to a conv net as an image; returns the moved entries'
    transformer parameters.

    ``mask`` is an ``(H, W, C)`` coupling mask (True: kept). A channel mask (the same at every
    pixel) feeds only the kept channels to ``net``; any other mask (e.g. a checkerboard) feeds
    the whole image with the moved entries set to zero. A condition vector (the coupling's
    flattened condition) is broadcast over the image as extra channels. ``net`` maps
    ``(H, W, in_channels)`` to ``(H, W, out_channels * num_params)``; see
    :func:`image_conditioner_channels` for both counts.

    Args:
        mask: the coupling mask, boolean, shape ``(H, W, C)``; True entries are kept.
        net: maps an image ``(H, W, in_channels)`` to ``(H, W, out_channels * num_params)``.

    Raises:
        ValueError: if ``mask`` is not shaped ``(H, W, C)``.
    """

    net: Callable[[Array], Array]
    shape: Shape = eqx.field(static=True)
    cond_idx: tuple[int, ...] = eqx.field(static=True)
    trans_idx: tuple[int, ...] = eqx.field(static=True)
    channels: tuple[tuple[int, ...], tuple[int, ...]] | None = eqx.field(static=True)

    def __init__(self, mask: np.ndarray, net: Callable[[Array], Array]):
        mask = np.asarray(mask, bool)
        error = image_shape_error("ImageConditioner", mask.shape)
        if error:
            raise ValueError(error)
        self.net = net
        self.shape = mask.shape
        self.cond_idx = tuple(int(i) for i in np.flatnonzero(mask.ravel()))
        self.trans_idx = tuple(int(i) for i in np.flatnonzero(~mask.ravel()))
        self.channels = _channel_split(mask)

    def __call__(
        self, kept: Float[Array, " n_kept"], condition: Float[Array, " k"] | None = None
    ) -> Float[Array, " n_params"]:
        """Kept entries to the moved entries' transformer parameters.

        Args:
            kept: the kept entries, flat in index order, shape ``(n_kept,)``.
            condition: the coupling's flattened condition, shape ``(k,)``, or None.

        Returns:
            The parameters, flat, shape ``(n_moved * num_params,)``.
        """
        h, w, c = self.shape
        if self.channels is not None:
            # Sorted flat indices of a per-pixel channel subset are exactly (h, w, kept_c).
            image = kept.reshape(h, w, len(self.channels[0]))
        else:
            flat = jnp.zeros(h * w * c, kept.dtype).at[np.asarray(self.cond_idx)].set(kept)
            image = flat.reshape(h, w, c)
        if condition is not None:
            extra = jnp.broadcast_to(condition.astype(image.dtype), (h, w, condition.size))
            image = jnp.concatenate([image, extra], axis=-1)
        out = self.net(image)
        if self.channels is not None:
            return out.reshape(-1)  # (h, w, moved_c, num_params), the moved entries' order
        num_params = out.shape[-1] // c
        return out.reshape(h * w * c, num_params)[np.asarray(self.trans_idx)].reshape(-1)


def image_conditioner_channels(
    mask: np.ndarray, num_params: int, cond_shape: Shape | None = None
) -> tuple[int, int]:
    """(input, output) channel counts of the net an :class:`ImageConditioner` needs."""
    mask = np.asarray(mask, bool)
    extra = 0 if cond_shape is None else int(np.prod(cond_shape))
    split = _channel_split(mask)
    c = mask.shape[-1]
    if split is None:
        return c + extra, c * num_params
    return len(split[0]) + extra, len(split[1]) * num_params


def conv_affine_coupling(
    key: PRNGKeyArray,
    mask: np.ndarray,
    *,
    width: int = 64,
    depth: int = 2,
    activation: Callable[[Array], Array] = jax.nn.relu,
    cond_shape: Shape | None = None,
    transformer: AbstractTransformer | None = None,
) -> Coupling:
    """Affine coupling on one image ``(H, W, C)`` with a conv ResNet conditioner (RealNVP,
    Glow).

    The log-scale is ``rescale * tanh(raw)`` with a learnable ``rescale``
    (:class:`AffineTransformer`); the network's output layer starts at zero, so a fresh
    layer is the identity.

    Args:
        key: initialises the ResNet.
        mask: an image mask, :func:`checkerboard_mask` or :func:`channel_mask` (True entries
            are kept and condition the rest).
        width: the ResNet's channels.
        depth: its residual blocks.
        activation: its nonlinearity.
        cond_shape: a condition, flattened and broadcast over the image as extra channels.
        transformer: replaces the affine map (e.g. :class:`AdditiveTransformer` for Glow's
            additive coupling, or a spline) if given.

    Returns:
        A :class:`Coupling` mapping images of ``mask.shape``.

    Raises:
        ValueError: the mask is not ``(H, W, C)``, or keeps every entry or none.
    """
    mask = np.asarray(mask, bool)
    error = image_shape_error("conv_affine_coupling", mask.shape)
    if error:
        raise ValueError(error)
    mask = check_mask("conv_affine_coupling", mask)
    if transformer is None:
        transformer = AffineTransformer(int((~mask).sum()))
    c_in, c_out = image_conditioner_channels(mask, transformer.num_params, cond_shape)
    net = ConvResNet(key, c_in, c_out, width=width, depth=depth, activation=activation)
    return Coupling(mask, ImageConditioner(mask, net), transformer, cond_shape)
