"""jaxtyping aliases used across flowkit (one place, so signatures read the same everywhere)."""

from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree, Scalar

Shape = tuple[int, ...]
"""The shape of one event, e.g. ``(2,)`` for 2-D vectors or ``(28, 28, 1)`` for an image."""

__all__ = [
    "Array",
    "ArrayLike",
    "Bool",
    "DTypeLike",
    "Float",
    "Int",
    "PRNGKeyArray",
    "PyTree",
    "Scalar",
    "Shape",
]
