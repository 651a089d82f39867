"""An exponential moving average of the parameters, kept in the optimiser state."""

from typing import NamedTuple

import equinox as eqx
import jax
import optax


class ParamsEmaState(NamedTuple):
    """The averaged parameters (same tree as the trainable parameters)."""

    ema_params: optax.Params


def ema(decay: float) -> optax.GradientTransformation:
    """Track ``ema <- decay * ema + (1 - decay) * new_params``; updates pass unchanged.

    Chain it last (after the optimiser) so ``params + updates`` are the new parameters;
    ``update`` then needs ``params``. Read the average with :func:`ema_model`;
    :func:`flowkit.fit` finds it in the state and validates, keeps and returns it.

    Args:
        decay: the weight of the old average per step, in (0, 1) (e.g. 0.999).

    Returns:
        An optax transformation whose state holds the average (same tree as the
        parameters).

    Raises:
        ValueError: ``decay`` outside (0, 1).
    """
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema: decay must be in (0, 1); got {decay}.")

    def init(params):
        return ParamsEmaState(jax.tree_util.tree_map(lambda p: p, params))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("ema: the optimiser update needs params= for the average.")
        new = optax.apply_updates(params, updates)
        return updates, ParamsEmaState(optax.incremental_update(new, state.ema_params, 1 - decay))

    return optax.GradientTransformation(init, update)


def ema_model(model, opt_state):
    """``model`` with its trainable parameters replaced by their average.

    Args:
        model: the model trained with ``opt_state`` (one copy, not replicated).
        opt_state: the state of an optimiser that chains :func:`ema`.

    Returns:
        A copy of ``model`` of the same structure holding the averaged parameters.

    Raises:
        ValueError: ``opt_state`` holds no parameter average.
    """
    average = optax.tree_utils.tree_get(opt_state, "ema_params")
    if average is None:
        raise ValueError(
            "ema_model: the optimiser state holds no parameter average; build the optimiser "
            "with default_optimizer(..., ema_decay=0.999) (or chain flowkit.train.ema)."
        )
    return eqx.combine(average, model)


def has_ema(opt_state) -> bool:
    """Whether ``opt_state`` keeps a parameter average (an :func:`ema` in the optimiser)."""
    return opt_state is not None and optax.tree_utils.tree_get(opt_state, "ema_params") is not None
