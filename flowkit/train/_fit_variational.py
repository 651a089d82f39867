"""Variational inference: fit a flow to an unnormalised log-density by reverse KL.

Beside :func:`~flowkit.train.fit` (maximum likelihood on data); both take the key first.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array, Float, PRNGKeyArray, Scalar
from ..flows._flow import Flow
from ..flows._frozen_base import trainable_filter

if TYPE_CHECKING:  # optax is imported when a fit runs, not with flowkit
    import optax

LogDensity = Callable[[Float[Array, "..."]], Scalar]


def elbo(key: PRNGKeyArray, flow: Flow, log_density: LogDensity, num_samples: int = 64) -> Scalar:
    """Monte Carlo ELBO ``E_q[log p~(x) - log q(x)]`` with reparameterised samples ``x ~ q``.

    The ELBO is at most ``log Z`` of the target, with equality when the flow matches it.
    Differentiable in the flow's parameters (gradients flow through the samples); with an
    IAF, sampling with densities is one pass.

    Args:
        key: draws the samples.
        flow: the variational distribution ``q`` (unconditional).
        log_density: maps ONE event, shape ``flow.shape``, to its unnormalised
            log-density, a scalar; it is vmapped over the draws.
        num_samples: Monte Carlo draws.

    Returns:
        The ELBO estimate, a scalar.
    """
    x, log_q = flow.sample_and_log_prob(key, (num_samples,))
    return jnp.mean(jax.vmap(log_density)(x) - log_q)


def fit_variational(
    key: PRNGKeyArray,
    flow: Flow,
    log_density: LogDensity,
    *,
    steps: int = 1000,
    num_samples: int = 64,
    learning_rate: float = 1e-3,
    optimizer: "optax.GradientTransformation | None" = None,
) -> tuple[Flow, Float[Array, " steps"]]:
    """Maximise the :func:`elbo` of ``flow`` against ``log_density``; a pure function.

    Runs all steps inside one ``lax.scan``, each with fresh draws. The base distribution
    stays fixed.

    Args:
        key: seeds every step's draws.
        flow: the flow to train (unconditional).
        log_density: maps ONE event, shape ``flow.shape``, to its unnormalised
            log-density, a scalar.
        steps: optimiser steps.
        num_samples: draws per step.
        learning_rate: Adam's rate when no ``optimizer`` is given.
        optimizer: an optax optimiser; None: ``optax.adam(learning_rate)``.

    Returns:
        The trained flow and the ELBO at every step (before that step's update), shape
        ``(steps,)``.

    Raises:
        ValueError: ``steps`` or ``num_samples`` below 1.
    """
    import optax

    from ..train._optimizer import optimizer_update

    if steps < 1 or num_samples < 1:
        raise ValueError(
            f"fit_variational: need steps, num_samples >= 1; got {steps}, {num_samples}."
        )
    optimizer = optimizer if optimizer is not None else optax.adam(learning_rate)
    params, static = eqx.partition(flow, trainable_filter(flow))
    opt_state = optimizer.init(params)

    def loss(p, k):
        return -elbo(k, eqx.combine(p, static), log_density, num_samples)

    def step(carry, k):
        p, state = carry
        value, grads = jax.value_and_grad(loss)(p, k)
        updates, state = optimizer_update(optimizer, grads, state, p)
        return (optax.apply_updates(p, updates), state), -value

    @jax.jit
    def run(p, state, keys):
        return jax.lax.scan(step, (p, state), keys)

    (params, _), history = run(params, opt_state, jax.random.split(key, steps))
    return eqx.combine(params, static), history
