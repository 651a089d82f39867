"""Toy data sets, and a RealNVP fitted to two moons beats the untrained flow and the base."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import flowkit as fk


@pytest.mark.parametrize("name", sorted(fk.data.TOY_DATASETS))
def test_toy_shapes_and_determinism(name, key):
    make = fk.data.TOY_DATASETS[name]
    a, b = make(key, 500), make(key, 500)
    assert a.shape == (500, 2) and a.dtype == jnp.float32
    np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(a)) and float(a.std()) > 0.3


def test_checkerboard_on_black_squares(key):
    x = np.asarray(fk.checkerboard(key, 2000))
    assert np.all(np.abs(x) <= 4.0)
    cells = (np.floor(x[:, 0] / 2) + np.floor(x[:, 1] / 2)) % 2
    assert len(np.unique(cells)) == 1  # every point on the same colour


def test_realnvp_fits_two_moons(key):
    # Measured (seed 0, 400 steps): trained test NLL ~2.1-2.3 nats vs 3.80 for the base and
    # the (identity-initialised) untrained flow. Threshold 2.6 leaves margin for platforms.
    k_train, k_test, k_flow = jax.random.split(key, 3)
    train, test = fk.two_moons(k_train, 2048), fk.two_moons(k_test, 2048)
    flow = fk.realnvp(k_flow, dim=2, num_layers=6, width=64)
    base_nll = float(-fk.standard_normal((2,)).log_prob(test).mean())
    untrained_nll = float(-flow.log_prob(test).mean())

    optimizer = optax.adam(3e-3)
    params, static = eqx.partition(flow, fk.flows.trainable_filter(flow))
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, batch):
        loss_fn = lambda p: -eqx.combine(p, static).log_prob(batch).mean()  # noqa: E731
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = fk.train.optimizer_update(optimizer, grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    for i in range(400):
        idx = jax.random.randint(jax.random.fold_in(k_train, i), (256,), 0, 2048)
        params, opt_state, _ = step(params, opt_state, train[idx])
    trained_nll = float(-eqx.combine(params, static).log_prob(test).mean())
    assert trained_nll < 2.6, (trained_nll, untrained_nll, base_nll)
    assert trained_nll < untrained_nll - 1.0 and trained_nll < base_nll - 1.0
