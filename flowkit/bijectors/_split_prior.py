"""Glow's learned prior for a factored-out latent, as a coupling before the split."""

from .._typing import PRNGKeyArray, Shape
from ..nn._conv import Conv2d
from ._conv_coupling import ImageConditioner, image_conditioner_channels
from ._coupling import Coupling
from ._masks import channel_mask
from ._squeeze import image_shape_error
from ._transformers import StandardizeTransformer


def split_prior(
    key: PRNGKeyArray,
    shape: Shape,
    *,
    kernel_size: int = 3,
    cond_shape: Shape | None = None,
) -> Coupling:
    """Glow's split prior: ``(z1, z2) -> (z1, (z2 - mu(z1)) * exp(-logs(z1)))`` on one image.

    ``z1`` are the first ``C // 2`` channels (those a :class:`MultiScale` keeps), ``z2`` the
    rest (those it factors out). ``mu`` and ``logs`` come from one ``kernel_size`` conv of
    ``z1`` (:class:`flowkit.nn.Conv2d`, zero-initialised: a fresh layer is the identity).
    Placed last in a scale's transform, it makes the factored-out latent
    ``z2 ~ N(mu(z1), exp(logs(z1))**2)`` under the standard normal base (Kingma & Dhariwal
    2018), log-determinant ``-sum(logs)``. Its transformer is a
    :class:`StandardizeTransformer`.

    Args:
        key: initialises the conv.
        shape: the image shape ``(H, W, C)``, ``C >= 2``.
        kernel_size: the conv's kernel size.
        cond_shape: a condition, broadcast over the image as extra input channels.

    Returns:
        A :class:`Coupling` mapping images of ``shape``.

    Raises:
        ValueError: ``shape`` is not an image with at least 2 channels.
    """
    shape = tuple(shape)
    error = image_shape_error("split_prior", shape)
    if error:
        raise ValueError(error)
    if shape[2] < 2:
        raise ValueError(
            f"split_prior: needs at least 2 channels (kept and factored out); got shape {shape}."
        )
    mask = channel_mask(*shape)
    transformer = StandardizeTransformer()
    c_in, c_out = image_conditioner_channels(mask, transformer.num_params, cond_shape)
    net = Conv2d(key, c_in, c_out, kernel_size, zero_init=True)
    return Coupling(mask, ImageConditioner(mask, net), transformer, cond_shape)
