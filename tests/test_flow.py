"""Flow: batched log_prob, sampling, temperature, conditioning and a frozen base."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk

from .registry._random import randomize


@pytest.fixture
def flow(key):
    return randomize(fk.realnvp(key, dim=3, num_layers=3, width=16), jax.random.key(7))


def test_log_prob_matches_change_of_variables(flow, key):
    x = jax.random.normal(key, (3,))
    z, log_det = flow.bijector.inverse_and_log_det(x)
    expected = jax.scipy.stats.norm.logpdf(z).sum() + log_det
    np.testing.assert_allclose(flow.log_prob(x), expected, rtol=1e-5, atol=1e-5)


def test_batched_log_prob_shapes(flow, key):
    x = jax.random.normal(key, (4, 5, 3))
    out = flow.log_prob(x)
    assert out.shape == (4, 5)
    np.testing.assert_allclose(out[2, 3], flow.log_prob(x[2, 3]), rtol=1e-5, atol=1e-5)


def test_sample_and_log_prob_consistent(flow, key):
    x, log_p = flow.sample_and_log_prob(key, (6,))
    assert x.shape == (6, 3)
    np.testing.assert_allclose(log_p, flow.log_prob(x), rtol=1e-4, atol=1e-4)


def test_temperature_shrinks_samples_and_keeps_density_consistent(flow, key):
    cold, log_p = flow.sample_and_log_prob(key, (2000,), temperature=0.5)
    warm = flow.sample(key, (2000,))
    z_cold = jax.vmap(flow.bijector.inverse)(cold)
    z_warm = jax.vmap(flow.bijector.inverse)(warm)
    np.testing.assert_allclose(z_cold, 0.5 * z_warm, rtol=1e-3, atol=1e-3)
    # The tempered log-density is that of z ~ N(0, T^2) pushed through the bijector.
    z, log_det = jax.vmap(flow.bijector.inverse_and_log_det)(cold[:5])
    expected = jax.scipy.stats.norm.logpdf(z, scale=0.5).sum(-1) + log_det
    np.testing.assert_allclose(log_p[:5], expected, rtol=1e-4, atol=1e-4)


def test_conditional_flow_density_depends_on_condition(key):
    flow = fk.realnvp(key, dim=2, num_layers=2, width=8, cond_shape=3)
    flow = randomize(flow, jax.random.key(3))
    x = jnp.ones((4, 2))
    a = flow.log_prob(x, condition=jnp.zeros(3))
    b = flow.log_prob(x, condition=jnp.ones(3))
    assert a.shape == (4,) and not np.allclose(a, b)
    per_example = flow.log_prob(x, condition=jnp.stack([jnp.zeros(3)] * 4))
    np.testing.assert_allclose(per_example, a, rtol=1e-6)
    samples = flow.sample(key, (5,), condition=jnp.ones(3))
    assert samples.shape == (5, 2)


@pytest.mark.parametrize("base", ["normal", "logistic", "uniform"])
def test_bases(key, base):
    flow = fk.realnvp(key, dim=2, num_layers=2, base=base)
    x = flow.sample(key, (10,))
    assert np.all(np.isfinite(flow.log_prob(x)))


def test_base_is_frozen(flow, key):
    x = jax.random.normal(key, (8, 3))
    grads = eqx.filter_grad(lambda f: -f.log_prob(x).mean())(flow)
    assert all(float(jnp.abs(g).max()) == 0 for g in grads.frozen_base.leaves)
    spec = fk.flows.trainable_filter(flow)
    assert not any(jax.tree_util.tree_leaves(spec.frozen_base))
    assert any(jax.tree_util.tree_leaves(spec.bijector))
    params, static = eqx.partition(flow, spec)
    rebuilt = eqx.combine(params, static)
    np.testing.assert_allclose(rebuilt.log_prob(x), flow.log_prob(x))
