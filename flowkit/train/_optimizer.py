"""The default optimiser: the RealNVP MNIST tutorial's recipe, from optax pieces."""

import equinox as eqx
import jax
import optax

from ..flows._frozen_base import trainable_filter
from ._ema import ema


def learning_rate_schedule(
    total_steps: int,
    *,
    learning_rate: float = 1e-3,
    warmup_steps: int = 200,
    end_fraction: float = 0.01,
) -> optax.Schedule:
    """Linear warm-up from 0 over ``warmup_steps``, then cosine decay to
    ``end_fraction * learning_rate`` at ``total_steps``. A run no longer than the warm-up
    warms up over its first half instead."""
    if total_steps < 1 or learning_rate <= 0 or warmup_steps < 0:
        raise ValueError(
            f"learning_rate_schedule: need total_steps >= 1, learning_rate > 0 and "
            f"warmup_steps >= 0; got {total_steps=}, {learning_rate=}, {warmup_steps=}."
        )
    warmup = warmup_steps if total_steps > warmup_steps else total_steps // 2
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=learning_rate,
        warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1),
        end_value=learning_rate * end_fraction,
    )


def default_optimizer(
    total_steps: int,
    *,
    learning_rate: float = 1e-3,
    warmup_steps: int = 200,
    end_fraction: float = 0.01,
    clip_norm: float | None = 1.0,
    weight_decay: float = 0.0,
    ema_decay: float | None = None,
) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam (AdamW with ``weight_decay``) on
    :func:`learning_rate_schedule`; with ``ema_decay``, an average of the parameters is kept
    in the state (read it with :func:`ema_model`).

    Only the trainable parameters reach the optimiser (see :func:`init_opt_state`), so the
    flow's base distribution gets neither updates nor weight decay.
    """
    schedule = learning_rate_schedule(
        total_steps,
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        end_fraction=end_fraction,
    )
    parts = [] if clip_norm is None else [optax.clip_by_global_norm(clip_norm)]
    if weight_decay:
        parts.append(optax.adamw(schedule, weight_decay=weight_decay))
    else:
        parts.append(optax.adam(schedule))
    if ema_decay is not None:
        parts.append(ema(ema_decay))
    return optax.chain(*parts)


def init_opt_state(optimizer: optax.GradientTransformation, model, filter_spec=trainable_filter):
    """The optimiser state for the trainable parameters of ``model`` (``filter_spec(model)``
    selects them; by default every float array except the base distribution's)."""
    return optimizer.init(eqx.filter(model, filter_spec(model)))


def optimizer_update(optimizer: optax.GradientTransformation, grads, state, params):
    """``optimizer.update(grads, state, params)`` under JAX's standard dtype promotion.

    optax's bias corrections raise a float to an int32 step count, which a user's global
    ``jax_numpy_dtype_promotion="strict"`` refuses; flowkit's own code is strict-clean
    (its test suite runs strict), so only this call is exempted."""
    with jax.numpy_dtype_promotion("standard"):
        return optimizer.update(grads, state, params)
