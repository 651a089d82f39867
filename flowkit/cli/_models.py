"""Building a flow for a data set from a model name on the command line."""

import math

import jax

import flowkit as fk

from ._errors import UserError, choice_error

VECTOR_MODELS = ("nice", "realnvp", "maf", "nsf")
IMAGE_MODELS = ("glow", "realnvp-multiscale", "tarflow")
MODELS = VECTOR_MODELS + IMAGE_MODELS


def model_event_shape(name: str, data_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The events the model sees: images for image models, flat vectors otherwise."""
    if name not in MODELS:
        raise choice_error("model", name, MODELS)
    if name in IMAGE_MODELS:
        if len(data_shape) != 3:
            raise UserError(
                f"model {name!r} needs images (H, W, C); the data have events of shape "
                f"{data_shape}. Use a vector model: {', '.join(VECTOR_MODELS)}"
            )
        return data_shape
    return (math.prod(data_shape),)


def build_model(
    name: str,
    data_shape: tuple[int, ...],
    *,
    key: jax.Array,
    width: int | None = None,
    num_layers: int | None = None,
) -> fk.Flow:
    """A flow for events of ``data_shape`` (vector models see the flattened event), with the
    factory's defaults unless ``width`` (hidden units or channels) or ``num_layers`` is given."""
    shape = model_event_shape(name, data_shape)
    kwargs: dict = {}
    try:
        if name == "tarflow":  # transformer width / blocks; patches of 4x4 (2x2 below 16)
            p = 4 if shape[0] % 4 == shape[1] % 4 == 0 and shape[0] * shape[1] >= 256 else 2
            blocks = num_layers or 4
            return fk.tarflow(
                key, image_shape=shape, patch_size=p, num_blocks=blocks, width=width or 64
            )
        if name in IMAGE_MODELS:
            if width is not None:
                kwargs["hidden_channels"] = width
            if num_layers is not None:
                kwargs["blocks_per_scale" if name == "glow" else "couplings_per_scale"] = num_layers
            return getattr(fk, name.replace("-", "_"))(key=key, image_shape=shape, **kwargs)
        if width is not None:
            kwargs["width"] = width
        if num_layers is not None:
            kwargs["num_layers"] = num_layers
        return getattr(fk, name)(key=key, dim=shape[0], **kwargs)
    except ValueError as error:  # the factory's own argument checks, e.g. image sizes
        raise UserError(str(error)) from None
