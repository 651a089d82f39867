"""Choose how a flow is differentiated: ``with_memory_mode(flow, "invertible")``."""

from ..bijectors._memory import wrap_memory
from ._flow import Flow


def with_memory_mode(flow: Flow, memory: str, *, anchor_every: int | None = None) -> Flow:
    """``flow`` with the same maps and parameters, differentiated the ``memory`` way.

    ``memory``: ``"standard"`` (autodiff stores every layer's activations), ``"remat"``
    (each layer under ``jax.checkpoint``: one stored input per layer) or ``"invertible"``
    (only the output is kept; each layer's input is rebuilt with its inverse in the
    backward pass, memory flat in depth). ``anchor_every=k`` stores every k-th layer's input
    in invertible mode, bounding float32 drift. See :class:`flowkit.MemoryMode`.

    The parameter leaves are the same arrays in every mode, but the wrapper adds a level to
    the pytree. To keep optimiser states and checkpoints mode-independent, apply the mode
    inside the loss instead: ``loss(params) = -with_memory_mode(eqx.combine(params,
    static), "invertible").log_prob(x).mean()``.
    """
    bijector = wrap_memory(flow.bijector, memory, anchor_every=anchor_every)
    return Flow(bijector, flow.frozen_base)
