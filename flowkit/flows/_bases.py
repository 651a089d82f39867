"""Standard base distributions (distrax) for a given event shape.

distrax (and TensorFlow Probability under it) is imported when a base is built, not when
flowkit is: it takes seconds to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax.numpy as jnp

from .._typing import Shape

if TYPE_CHECKING:
    import distrax


def _independent(dist, shape: Shape) -> distrax.Distribution:
    import distrax

    return distrax.Independent(dist, reinterpreted_batch_ndims=len(shape))


def standard_normal(shape: Shape) -> distrax.Distribution:
    """Independent N(0, 1) over every entry of an event of ``shape``.

    Args:
        shape: the event shape.

    Returns:
        A distrax distribution with event shape ``shape``.
    """
    import distrax

    return _independent(distrax.Normal(jnp.zeros(shape), jnp.ones(shape)), shape)


def standard_logistic(shape: Shape) -> distrax.Distribution:
    """Independent standard logistic over every entry (the NICE prior).

    Args:
        shape: the event shape.

    Returns:
        A distrax distribution with event shape ``shape``.
    """
    import distrax

    return _independent(distrax.Logistic(jnp.zeros(shape), jnp.ones(shape)), shape)


def uniform(shape: Shape, low: float = 0.0, high: float = 1.0) -> distrax.Distribution:
    """Independent U(low, high) over every entry.

    Args:
        shape: the event shape.
        low: lower bound of every entry.
        high: upper bound of every entry.

    Returns:
        A distrax distribution with event shape ``shape``.
    """
    import distrax

    return _independent(distrax.Uniform(jnp.full(shape, low), jnp.full(shape, high)), shape)


def make_base(base: "str | distrax.Distribution", shape: Shape) -> distrax.Distribution:
    """A base distribution over events of ``shape``.

    Args:
        base: a name (``"normal"``, ``"logistic"`` or ``"uniform"``), or any distrax
            distribution with event shape ``shape``, returned as is.
        shape: the flow's latent shape.

    Returns:
        A distrax distribution with event shape ``shape``.

    Raises:
        ValueError: for an unknown name, or a distribution of another event shape.
    """
    if not isinstance(base, str):
        event = tuple(getattr(base, "event_shape", ()))
        if event != tuple(shape):
            raise ValueError(
                f"base: the distribution's event shape {event} must be the flow's latent "
                f"shape {tuple(shape)}; wrap a scalar distribution with "
                "distrax.Independent over that shape."
            )
        return base
    makers = {"normal": standard_normal, "logistic": standard_logistic, "uniform": uniform}
    if base not in makers:
        raise ValueError(
            f"Unknown base {base!r}; expected one of {sorted(makers)} or a distrax distribution."
        )
    return makers[base](shape)
