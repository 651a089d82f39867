"""STOPGAP until flowkit.train lands: the optimiser recipe, the jitted step with non-finite
handling, and the progress bar that :func:`flowkit.fit` uses. To be replaced by imports
from flowkit.train (issue 6) -- fit must share its training code, not keep its own."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from tqdm.auto import tqdm

from ..flows._frozen_base import trainable_filter
from ..flows._image_data import bits_per_dim, dequantize


def make_optimizer(learning_rate: float, total_steps: int):
    warmup = min(200, max(total_steps // 2, 1))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, warmup, max(total_steps, warmup + 1), learning_rate * 0.01
    )
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))


def make_step(flow, optimizer, *, image: bool, num_levels: int):
    params, _ = eqx.partition(flow, trainable_filter(flow))
    opt_state = optimizer.init(params)
    dim = math.prod(flow.shape)

    @eqx.filter_jit
    def step(model, opt_state, batch, condition, key):
        params, static = eqx.partition(model, trainable_filter(model))
        x = dequantize(key, batch, num_levels=num_levels) if image else batch

        def loss_fn(p):
            lp = eqx.combine(p, static).log_prob(x, condition)
            return bits_per_dim(lp, dim, num_levels=num_levels).mean() if image else -lp.mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, new_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        ok = jnp.isfinite(loss) & jnp.all(
            jnp.asarray([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)])
        )
        params = jax.tree_util.tree_map(lambda n, o: jnp.where(ok, n, o), new_params, params)
        opt_state = jax.tree_util.tree_map(
            lambda n, o: jnp.where(ok, n, o) if eqx.is_array(n) else n, new_state, opt_state
        )
        return eqx.combine(params, static), opt_state, {"loss": jnp.where(ok, loss, jnp.nan)}

    return step, opt_state


class _NoBar:
    def update(self, n=1, **kw):
        pass

    def set_postfix(self, **kw):
        pass

    def close(self):
        pass


class _Bar:
    def __init__(self, total):
        self.bar = tqdm(total=total, leave=False)

    def update(self, n=1, loss=None):
        self.bar.update(n)
        if loss is not None and self.bar.n % 20 == 0:
            self.bar.set_postfix(loss=f"{loss:.3f}")

    def set_postfix(self, **kw):
        self.bar.set_postfix(**kw)

    def close(self):
        self.bar.close()


def progress_bar(total: int, enabled: bool):
    return _Bar(total) if enabled else _NoBar()
