"""Choose how a flow is differentiated: ``with_memory_mode(flow, "invertible")``, and the
same inside a training loss (:func:`memory_loss`)."""

import functools
from collections.abc import Callable

from ..flows._flow import Flow
from ._memory_mode import MemoryMode
from ._modes import MemoryModeName, check_memory_mode


def with_memory_mode(
    flow: Flow, memory: MemoryModeName, *, anchor_every: int | None = None
) -> Flow:
    """``flow`` with the same maps and parameters, differentiated the ``memory`` way.

    The parameter leaves are the same arrays in every mode, but the wrapper
    (:class:`flowkit.flows.MemoryMode`) adds a level to the pytree; any previous mode is
    replaced, and ``"standard"`` without ``anchor_every`` gives back the plain flow. To keep
    optimiser states and checkpoints mode-independent, apply the mode inside the loss
    (:func:`memory_loss`, which the training entry points' ``memory=`` uses).

    Args:
        flow: the flow; its bijector is what gets differentiated another way.
        memory: ``"standard"`` (autodiff stores every layer's activations), ``"remat"``
            (each layer under ``jax.checkpoint``: one stored input per layer) or
            ``"invertible"`` (only the output is kept; each layer's input is rebuilt with
            its inverse in the backward pass, memory flat in depth).
        anchor_every: in invertible mode, also store every k-th layer's input, bounding
            float32 drift.

    Returns:
        The flow in that mode: the same log-densities, samples and gradients.

    Raises:
        ValueError: ``memory`` or ``anchor_every`` is not one of the choices above.
    """
    check_memory_mode("with_memory_mode", memory, anchor_every)
    bijector = flow.bijector
    if isinstance(bijector, MemoryMode):
        bijector = bijector.bijector
    if memory != "standard" or anchor_every is not None:
        bijector = MemoryMode(bijector, memory, anchor_every=anchor_every)
    return Flow(bijector, flow.frozen_base)


def memory_loss(loss: Callable, memory: MemoryModeName, *, owner: str = "make_step") -> Callable:
    """``loss(model, x, condition, keys)`` evaluated on ``with_memory_mode(model, memory)``.

    The mode is applied inside the loss, so the parameter tree (optimiser state, checkpoints)
    is the same in every mode.

    Args:
        loss: a training loss taking the model first.
        memory: the memory mode (see :func:`with_memory_mode`).
        owner: the entry point named in error messages.

    Returns:
        The wrapped loss; ``loss`` itself for ``"standard"``.

    Raises:
        ValueError: ``memory`` is not a memory mode.
    """
    check_memory_mode(owner, memory)
    if memory == "standard":
        return loss

    @functools.wraps(loss)
    def wrapped(model, x, condition, keys):
        if not isinstance(model, Flow):
            raise TypeError(
                f"{owner}(memory={memory!r}) needs the model to be a flowkit.Flow (its "
                f"bijector is what gets differentiated the {memory!r} way); got "
                f"{type(model).__name__}. Pass memory='standard', or wrap your model's "
                f"bijector in flowkit.flows.MemoryMode yourself."
            )
        return loss(with_memory_mode(model, memory), x, condition, keys)

    return wrapped
