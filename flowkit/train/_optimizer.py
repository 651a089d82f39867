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
    """Linear warm-up from 0, then cosine decay to ``end_fraction * learning_rate``.

    Args:
        total_steps: the step at which the decay ends (the run's step budget).
        learning_rate: the peak rate, reached after the warm-up.
        warmup_steps: steps of the linear warm-up; a run no longer than that warms up over
            its first half instead.
        end_fraction: the final rate as a fraction of ``learning_rate``.

    Returns:
        An optax schedule: step number to learning rate.

    Raises:
        ValueError: ``total_steps < 1``, ``learning_rate <= 0`` or ``warmup_steps < 0``.
    """
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
    :func:`learning_rate_schedule`.

    Only the trainable parameters reach the optimiser (see :func:`init_opt_state`), so the
    flow's base distribution gets neither updates nor weight decay.

    Args:
        total_steps: the step budget the schedule decays over.
        learning_rate: the peak rate.
        warmup_steps: steps of linear warm-up.
        end_fraction: the final rate as a fraction of ``learning_rate``.
        clip_norm: the global gradient norm clipped to; None: no clipping.
        weight_decay: AdamW's decoupled weight decay; 0: plain Adam.
        ema_decay: keep an average of the parameters in the state with this decay (read
            it with :func:`ema_model`); None: no average.

    Returns:
        The optax optimiser.

    Raises:
        ValueError: a schedule argument out of range (see :func:`learning_rate_schedule`)
            or ``ema_decay`` outside (0, 1).
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
    """The optimiser state for the trainable parameters of ``model``.

    Args:
        optimizer: the optax optimiser.
        model: the model to train (e.g. a Flow), one copy.
        filter_spec: ``filter_spec(model)`` selects the trainable leaves; by default every
            float array except the base distribution's.

    Returns:
        ``optimizer.init`` of the trainable part of ``model``.
    """
    return optimizer.init(eqx.filter(model, filter_spec(model)))


def optimizer_update(optimizer: optax.GradientTransformation, grads, state, params):
    """``optimizer.update(grads, state, params)`` under JAX's standard dtype promotion.

    optax's bias corrections raise a float to an int32 step count, which a user's global
    ``jax_numpy_dtype_promotion="strict"`` refuses; flowkit's own code is strict-clean
    (its test suite runs strict), so only this call is exempted.

    Args:
        optimizer: the optax optimiser.
        grads: the gradients, same tree as ``params``.
        state: the optimiser state.
        params: the current trainable parameters.

    Returns:
        ``(updates, new_state)``, as ``optimizer.update``.
    """
    with jax.numpy_dtype_promotion("standard"):
        return optimizer.update(grads, state, params)
