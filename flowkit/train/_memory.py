"""The training steps' ``memory=`` switch: a loss that differentiates the flow another way."""

import functools

from ..bijectors._memory import check_memory_mode
from ..flows._flow import Flow
from ..flows._memory import with_memory_mode
from ._losses import Loss


def memory_loss(loss: Loss, memory: str, *, owner: str = "make_step") -> Loss:
    """``loss`` evaluated on ``with_memory_mode(model, memory)``.

    The mode is applied inside the loss, so the parameter tree (optimiser state, checkpoints)
    is the same in every mode; ``"standard"`` gives back ``loss`` itself.
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
                f"bijector in flowkit.MemoryMode yourself."
            )
        return loss(with_memory_mode(model, memory), x, condition, keys)

    return wrapped
