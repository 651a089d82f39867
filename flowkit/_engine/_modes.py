"""The memory modes: one ``Literal`` type, the tuple of its choices, and their check."""

from typing import Literal, get_args

MemoryModeName = Literal["standard", "remat", "invertible"]
"""How a flow is differentiated: ``"standard"`` (autodiff stores every layer's
activations), ``"remat"`` (one stored input per layer, insides recomputed) or
``"invertible"`` (inputs rebuilt from outputs: memory flat in depth)."""

MEMORY_MODES: tuple[MemoryModeName, ...] = get_args(MemoryModeName)


def check_memory_mode(owner: str, memory: str, anchor_every: int | None = None) -> None:
    """Raise unless ``memory`` is one of :data:`MEMORY_MODES` and ``anchor_every`` is None
    or a positive int.

    Args:
        owner: the public function or class named in the message.
        memory: the mode asked for.
        anchor_every: store every k-th layer's input in invertible mode (or None).

    Raises:
        ValueError: naming the valid choices and what came.
    """
    if memory not in MEMORY_MODES:
        raise ValueError(
            f"{owner}: memory must be one of {', '.join(map(repr, MEMORY_MODES))}; got {memory!r}."
        )
    if anchor_every is not None and (not isinstance(anchor_every, int) or anchor_every < 1):
        raise ValueError(
            f"{owner}: anchor_every must be a positive int (store every k-th layer's input) "
            f"or None; got {anchor_every!r}."
        )
