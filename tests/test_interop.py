"""flowkit bijectors inside distrax and distrax bijectors inside flowkit agree numerically."""

import distrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk
import flowkit.testing

from .registry._random import randomize


def test_flowkit_bijector_in_distrax_transformed(key):
    flow = randomize(fk.realnvp(key, dim=3, num_layers=2, width=8), jax.random.key(1))
    base = distrax.MultivariateNormalDiag(jnp.zeros(3), jnp.ones(3))
    transformed = distrax.Transformed(base, fk.ToDistrax(flow.bijector))
    x = jax.random.normal(key, (7, 3))
    np.testing.assert_allclose(transformed.log_prob(x), flow.log_prob(x), rtol=1e-5, atol=1e-5)
    samples, log_p = transformed.sample_and_log_prob(seed=key, sample_shape=(4,))
    np.testing.assert_allclose(log_p, flow.log_prob(samples), rtol=1e-4, atol=1e-4)


def test_distrax_bijector_in_flowkit_chain(key):
    scale = jnp.array([0.5, 2.0, 1.5])
    distrax_affine = distrax.ScalarAffine(shift=jnp.array([1.0, -1.0, 0.0]), scale=scale)
    chain = fk.Chain([fk.FromDistrax(distrax_affine, (3,)), fk.FromDistrax(distrax.Tanh(), (3,))])
    x = jax.random.normal(key, (3,))
    y, log_det = chain.forward_and_log_det(x)
    expected_y, expected_ld = distrax.Chain([distrax.Tanh(), distrax_affine]).forward_and_log_det(x)
    np.testing.assert_allclose(y, expected_y, rtol=1e-6)
    np.testing.assert_allclose(log_det, expected_ld.sum(), rtol=1e-5)
    flowkit_affine = fk.Affine(jnp.array([1.0, -1.0, 0.0]), scale)
    np.testing.assert_allclose(
        chain.forward(x), fk.Tanh((3,)).forward(flowkit_affine.forward(x)), rtol=1e-6
    )


def _block_affine():
    affine = distrax.ScalarAffine(shift=jnp.array(0.3), scale=jnp.array(1.5))
    return fk.FromDistrax(distrax.Block(affine, 1), (4,))


def test_from_distrax_is_an_ordinary_pytree(key):
    chain = fk.Chain([_block_affine(), fk.FromDistrax(distrax.Tanh(), (4,))])
    params = eqx.filter(chain, eqx.is_array)
    assert len(jax.tree_util.tree_leaves(params)) == len(jax.tree_util.tree_leaves(chain))
    doubled = jax.tree.map(lambda a: 2 * a, chain)
    assert float(doubled.layers[0].bijector.bijector.shift) == pytest.approx(0.6)
    x = jax.random.normal(key, (4,))
    np.testing.assert_allclose(chain.forward(x), jnp.tanh(1.5 * x + 0.3), rtol=1e-6)


def test_from_distrax_passes_check_bijector(key):
    fk.testing.check_bijector(
        fk.Chain([_block_affine(), fk.Affine(jnp.zeros(4), jnp.ones(4))]), key
    )


def test_from_distrax_is_frozen_in_fit_and_the_rest_trains(key, tmp_path):
    rng = np.random.default_rng(0)
    data = (2.0 * rng.standard_normal((256, 4)) + 1.0).astype(np.float32)
    chain = fk.Chain([_block_affine(), fk.Affine(jnp.zeros(4), jnp.ones(4))])
    flow = fk.Flow(chain, fk.standard_normal((4,)))
    assert not any(jax.tree_util.tree_leaves(fk.flows.trainable_filter(flow.bijector.layers[0])))
    optimizer = lambda steps: fk.train.default_optimizer(steps, learning_rate=1e-2)  # noqa: E731
    fitted, history = fk.fit(
        key,
        flow,
        data,
        optimizer=optimizer,
        batch_size=64,
        stopping=fk.Stopping(epochs=3),
        progress=False,
    )
    before, after = flow.bijector.layers, fitted.bijector.layers
    for old, new in zip(jax.tree.leaves(before[0]), jax.tree.leaves(after[0]), strict=True):
        np.testing.assert_array_equal(old, new)  # frozen: distrax caches scale, 1/scale, log
    assert not np.allclose(before[1].loc, after[1].loc)  # the flowkit layer trained
    path = fk.save(tmp_path / "m.flowkit", fitted)
    x = data[:5]
    np.testing.assert_array_equal(fk.load(path).log_prob(x), fitted.log_prob(x))


def test_from_distrax_refuses_what_is_not_a_distrax_bijector():
    with pytest.raises(TypeError, match=r"FromDistrax: expected a distrax\.Bijector; got Affine"):
        fk.FromDistrax(fk.Affine(jnp.zeros(2), jnp.ones(2)), (2,))


def test_from_distrax_refuses_events_larger_than_shape():
    with pytest.raises(ValueError, match=r"FromDistrax: the distrax bijector acts on 1-D events"):
        fk.FromDistrax(distrax.Block(distrax.Tanh(), 1), ())
