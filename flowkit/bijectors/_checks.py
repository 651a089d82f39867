"""Input validation shared by every bijector: shapes, dtypes and conditions.

These run at trace time (shapes and dtypes are static), so they cost nothing under jit.
"""

import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, ArrayLike, Shape

_HALF = ("float16", "bfloat16")


def is_concrete(array: ArrayLike) -> bool:
    """Whether ``array`` has a value now (not a tracer from jit/vmap/grad), so it can be checked."""
    try:
        np.asarray(array)
    except jax.errors.TracerArrayConversionError:
        return False
    return True


def check_shape(owner: str, name: str, shape) -> None:
    """Raise unless ``shape`` is a tuple of non-negative ints (e.g. ``(3,)``, not ``3``)."""
    if not isinstance(shape, tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise TypeError(
            f"{owner}: {name} must be a tuple of non-negative ints, e.g. (3,) or (28, 28, 1); "
            f"got {shape!r}."
        )


def check_event(owner: str, name: str, value: ArrayLike, shape: Shape) -> Array:
    """Return ``value`` as a floating-point array of exactly ``shape``, or raise.

    Raises:
        TypeError: ``value`` is not float32/float64 (integer images must be dequantized
            first; half precision is refused).
        ValueError: ``value`` does not have the event shape.
    """
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(
            f"{owner}: expected a floating-point array for {name}; got dtype {value.dtype}. "
            "Convert it first, e.g. x.astype(jnp.float32) (dequantize integer pixels)."
        )
    if value.dtype.name in _HALF:
        raise TypeError(
            f"{owner}: expected float32 or float64 for {name}; got {value.dtype.name}. Half "
            "precision is not supported (log-determinants lose too much precision); cast "
            "with x.astype(jnp.float32)."
        )
    if value.shape != tuple(shape):
        raise ValueError(
            f"{owner}: expected {name} of shape {tuple(shape)} (one event); got shape "
            f"{value.shape}. Batches go through jax.vmap, or use Flow.log_prob/sample."
        )
    return value


def check_condition(owner: str, condition: ArrayLike | None, cond_shape: Shape | None):
    """Return the condition as an array of ``cond_shape`` (or None when unconditional)."""
    if cond_shape is None:
        if condition is not None:
            raise ValueError(
                f"{owner}: this bijector is unconditional (cond_shape=None) but got a "
                f"condition of shape {jnp.shape(condition)}. Drop the condition argument."
            )
        return None
    if condition is None:
        raise ValueError(
            f"{owner}: expected a condition of shape {tuple(cond_shape)}; got None. "
            "Pass condition=... (one condition per event)."
        )
    return check_event(owner, "condition", condition, cond_shape)
