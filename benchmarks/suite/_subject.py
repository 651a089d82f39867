"""A model under test, seen through one interface whatever library built it."""

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from flowkit.train import optimizer_update


@dataclasses.dataclass
class Subject:
    """One library's model of a benchmark case.

    ``model`` is a pytree; the callables take it first. ``sample(model, key)`` draws the
    case's batch; ``trainable`` is a filter spec (pytree of bools) over ``model``. A missing
    method is None (e.g. a floor has no density).
    """

    library: str
    model: Any
    log_prob: Callable | None
    sample: Callable | None
    sample_and_log_prob: Callable | None
    trainable: Any
    note: str = ""

    @property
    def num_params(self) -> int:
        """Trainable scalars."""
        params = eqx.filter(self.model, self.trainable)
        return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))

    def loss(self, model, x):
        """Mean negative log-likelihood of the batch ``x``."""
        assert self.log_prob is not None
        return -jnp.mean(self.log_prob(model, x))


def train_step(loss: Callable, trainable: Any, optimizer: optax.GradientTransformation) -> Callable:
    """``step(model, opt_state, x) -> (params, opt_state, loss)``: loss, grad, optax update."""

    def step(model, opt_state, x):
        params, rest = eqx.partition(model, trainable)

        def objective(p):
            return loss(eqx.combine(p, rest), x)

        value, grads = jax.value_and_grad(objective)(params)
        updates, opt_state = optimizer_update(optimizer, grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return step


def init_opt_state(subject: Subject, optimizer: optax.GradientTransformation):
    """The optimiser state for the subject's trainable parameters."""
    return optimizer.init(eqx.filter(subject.model, subject.trainable))


def randomise(model, trainable: Any, key, scale: float = 0.01):
    """Add ``scale``-sized noise to the trainable leaves, so zero-initialised output layers do
    not leave a flow the identity (whose arithmetic a compiler might skip by luck).

    The noise is drawn with NumPy (seeded from ``key``): eager JAX ops would compile one small
    program per leaf shape, which costs more than the benchmarks they prepare.
    """
    params, rest = eqx.partition(model, trainable)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    seed = int(np.asarray(jax.random.key_data(key)).ravel()[-1])
    rng = np.random.default_rng(seed)
    noisy = [
        jnp.asarray(np.asarray(leaf) + scale * rng.standard_normal(np.shape(leaf)), leaf.dtype)
        for leaf in leaves
    ]
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, noisy), rest)
