"""Fixed maps from data space into the space a flow is trained in, kept inside the flow."""

from ..bijectors._base import AbstractBijector
from ..bijectors._chain import Chain
from ..bijectors._invert import Invert
from ._flow import Flow


def with_preprocessing(flow: Flow, *preprocess: AbstractBijector) -> Flow:
    """``flow`` on data that first pass through ``preprocess`` (in order, data to model space).

    E.g. ``with_preprocessing(flow, Rescale(shape, -1.0, 1.0))`` trains on pixels in [-1, 1]
    while ``log_prob`` stays the density of the data in [0, 1]: the maps' log-determinants
    are part of every score, so NLL and bits/dim can never be taken in the wrong space.
    Sampling maps back through the maps' inverses.

    Args:
        flow: the flow in model space.
        *preprocess: the maps from data to model space, in order: the first takes events of
            the data shape, each one's output shape is the next one's input, and the last
            one's is ``flow.shape``.

    Returns:
        A flow over events of the first map's input shape.

    Raises:
        ValueError: if no map is given, or the last map's output shape is not ``flow.shape``.
    """
    if not preprocess:
        raise ValueError("with_preprocessing: give at least one bijector (e.g. fk.Rescale).")
    into_model = preprocess[0] if len(preprocess) == 1 else Chain(preprocess)
    if tuple(into_model.out_shape) != tuple(flow.shape):
        raise ValueError(
            f"with_preprocessing: the maps return events of shape {tuple(into_model.out_shape)}"
            f" but the flow takes {tuple(flow.shape)}."
        )
    return Flow(Chain([flow.bijector, Invert(into_model)]), flow.frozen_base)
