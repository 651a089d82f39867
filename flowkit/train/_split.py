"""A seeded train/validation split of the examples of a data set."""

import math

import jax
import numpy as np

from .._typing import PRNGKeyArray


def validation_split(
    key: PRNGKeyArray, num_examples: int, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """A random ``fraction`` of ``range(num_examples)`` held out, the same for the same key.

    Args:
        key: chooses the held-out examples.
        num_examples: how many examples there are.
        fraction: the share held out, in [0, 1); at least one example when above 0.

    Returns:
        ``(train_indices, val_indices)``: sorted integer arrays, shapes
        ``(num_examples - V,)`` and ``(V,)``.

    Raises:
        ValueError: ``fraction`` outside [0, 1), or no example left to train on.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the validation fraction must be in [0, 1); got {fraction}.")
    num_val = 0 if fraction == 0 else max(1, math.floor(fraction * num_examples + 0.5))
    if num_examples - num_val < 1:
        raise ValueError(
            f"cannot hold out {num_val} of {num_examples} examples for validation and still "
            "train; pass more data or a smaller validation fraction."
        )
    order = np.asarray(jax.random.permutation(key, num_examples))
    return np.sort(order[num_val:]), np.sort(order[:num_val])
