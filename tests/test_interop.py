"""flowkit bijectors inside distrax and distrax bijectors inside flowkit agree numerically."""

import distrax
import jax
import jax.numpy as jnp
import numpy as np

import flowkit as fk

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
