"""Issue 15: rescaling inside the flow (bits/dim in data space), Glow's split prior and its
learned top prior, on a small Glow trained a few steps on 8x8 digits."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm
from sklearn.datasets import load_digits

import flowkit as fk
from tests.registry.image import randomize

LEVELS = 17  # load_digits pixels take the values 0..16
D = 64
SIZES = dict(image_shape=(8, 8, 1), num_scales=2, layers_per_scale=1, width=8, depth=0)


@pytest.fixture(scope="module")
def digits():
    return load_digits().images.astype(np.int32)[..., None]  # (1797, 8, 8, 1)


@pytest.fixture(scope="module")
def trained(digits):
    """(initial, trained): a Glow on [-1, 1]-scaled data (the Rescale inside the flow),
    ActNorm-initialised, then fitted for 10 steps."""
    flow = fk.glow(jax.random.key(0), **SIZES, rescale=(-1.0, 1.0))
    init = fk.dequantize(jax.random.key(1), digits[:256], num_levels=LEVELS)
    flow = fk.data_init(flow, init)
    best, _ = fk.fit(
        jax.random.key(2), flow, digits[:640], batch_size=64,
        stopping=fk.Stopping(epochs=1, max_steps=10),
        optimizer=lambda steps: fk.train.default_optimizer(steps, learning_rate=3e-3),
        loss=fk.BitsPerDim(num_levels=LEVELS), progress=False,
    )  # fmt: skip
    return flow, best


def _dequantized(seed: int, pixels):
    """The noise fk.evaluate uses: example i of draw 0 with fold_in(fold_in(key(seed), 0), i)."""
    k = jax.random.fold_in(jax.random.key(seed), 0)
    return jnp.stack(
        [
            fk.dequantize(jax.random.fold_in(k, i), p, num_levels=LEVELS)
            for i, p in enumerate(pixels)
        ]
    )


def test_rescaled_training_is_scored_in_data_space(trained, digits):
    _, flow = trained
    rescale, model = flow.bijector.bijector.layers
    assert isinstance(rescale, fk.Rescale) and (rescale.low, rescale.high) == (-1.0, 1.0)
    pixels = digits[-20:]
    ev = fk.evaluate(flow, pixels, seed=3, num_levels=LEVELS, batch_size=8)
    y = _dequantized(3, pixels)
    # By hand, in data space: the model's density of 2y - 1, plus log|d(2y - 1)/dy| = D log 2.
    signed = fk.Flow(fk.Invert(model), flow.base)
    log_p_signed = eqx.filter_jit(lambda f, x: f.log_prob(x))(signed, 2.0 * y - 1.0)
    log_p_data = np.asarray(log_p_signed, np.float64) + D * math.log(2.0)
    by_hand = (-log_p_data + D * math.log(LEVELS)) / (D * math.log(2.0))
    np.testing.assert_allclose(ev.values, by_hand, rtol=1e-5)
    log_p = eqx.filter_jit(lambda f, x: f.log_prob(x))(flow, y)
    np.testing.assert_allclose(fk.bits_per_dim(log_p, D, num_levels=LEVELS), by_hand, rtol=1e-5)
    # The signed model alone, scored with data_range=2, agrees too.
    bpd_signed = fk.bits_per_dim(log_p_signed, D, num_levels=LEVELS, data_range=2.0)
    np.testing.assert_allclose(bpd_signed, by_hand, rtol=1e-5)
    # Float images off [0, 1] would be mis-scored by log2(width) bits/dim: refused.
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\].*\[-1, 1\]"):
        fk.evaluate(flow, np.asarray(2.0 * y - 1.0), image=True)


def test_preprocessing_arguments_are_checked():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="pass rescale=None with logit_alpha"):
        fk.glow(key, **SIZES, logit_alpha=0.05)
    with pytest.raises(ValueError, match=r"rescale must be a pair \(low, high\) with low < high"):
        fk.realnvp_multiscale(key, image_shape=(4, 4, 1), logit_alpha=None, rescale=(1.0, 0.0))
    with pytest.raises(ValueError, match="Rescale: need low < high"):
        fk.Rescale((2,), 1.0, 1.0)
    with pytest.raises(ValueError, match="split_prior: needs at least 2 channels"):
        fk.bijectors.split_prior(key, (4, 4, 1))


def test_fresh_split_prior_and_learned_top_are_the_identity(digits):
    # fold_in keys: every other layer draws the same parameters with or without them.
    x = fk.dequantize(jax.random.key(1), digits[:8], num_levels=LEVELS)
    log_prob = eqx.filter_jit(lambda f, x: f.log_prob(x))
    full = fk.glow(jax.random.key(0), **SIZES)
    plain = fk.glow(jax.random.key(0), **SIZES, split_prior=False, learn_top=False)
    np.testing.assert_allclose(log_prob(full, x), log_prob(plain, x), rtol=1e-6)
    assert fk.count_parameters(full) > fk.count_parameters(plain)


def test_split_prior_is_a_learned_normal_prior_of_the_factored_half(key):
    layer = randomize(fk.bijectors.split_prior(key, (4, 4, 4)), jax.random.fold_in(key, 1))
    h = jax.random.normal(jax.random.fold_in(key, 2), (4, 4, 4))
    eps, log_det = layer.forward_and_log_det(h)
    z1, z2 = h[..., :2], h[..., 2:]
    out = layer.conditioner.net(z1).reshape(4, 4, 2, 2)  # (moved channel, (mean, log-scale))
    mu, logs = out[..., 0], out[..., 1]
    assert float(jnp.abs(mu).min()) > 0 and float(jnp.abs(logs).min()) > 0  # random, not zero
    np.testing.assert_array_equal(eps[..., :2], z1)
    # N(0, 1) of the output with the log-det is exactly N(mu(z1), exp(logs(z1))) of z2.
    lhs = norm.logpdf(eps).sum() + log_det
    rhs = norm.logpdf(z1).sum() + norm.logpdf(z2, mu, jnp.exp(logs)).sum()
    np.testing.assert_allclose(lhs, rhs, rtol=1e-5)


def test_priors_train_and_the_distrax_base_does_not(trained):
    initial, flow = trained
    model = flow.bijector.bijector.layers[1]
    prior = model.transform.layers[-1]
    top = model.inner.transform.layers[-1]
    assert isinstance(prior.transformer, fk.bijectors.StandardizeTransformer) and isinstance(
        top, fk.Affine
    )
    start = initial.bijector.bijector.layers[1]
    assert float(jnp.abs(prior.conditioner.net.weight).max()) > 0  # moved off its zero init
    moved = jnp.abs(top.loc - start.inner.transform.layers[-1].loc).max()
    assert float(moved) > 0 and float(jnp.abs(top.log_scale).max()) > 0
    # The distrax base is held frozen: no trainable leaves, zero gradient.
    assert not any(jax.tree_util.tree_leaves(fk.flows.trainable_filter(flow.frozen_base)))
    x = jnp.full((2, 8, 8, 1), 0.5)
    grads = eqx.filter_grad(lambda f: f.log_prob(x).sum())(flow)
    assert all(float(jnp.abs(g).max()) == 0 for g in grads.frozen_base.leaves)


def test_split_prior_with_data_init_memory_modes_and_save_load(trained, digits, tmp_path):
    _, flow = trained
    x = fk.dequantize(jax.random.key(4), digits[:8], num_levels=LEVELS)

    def loss(f, x):
        return -jnp.mean(f.log_prob(x))

    grads = {
        m: eqx.filter_jit(eqx.filter_grad(loss))(fk.with_memory_mode(flow, m), x)
        for m in ("standard", "remat", "invertible")
    }
    want = jax.tree_util.tree_leaves(eqx.filter(grads["standard"], eqx.is_inexact_array))
    for mode in ("remat", "invertible"):
        got = jax.tree_util.tree_leaves(eqx.filter(grads[mode], eqx.is_inexact_array))
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            err = float(jnp.linalg.norm(g - w))
            assert err <= 2e-3 * float(jnp.linalg.norm(w)) + 1e-5, (mode, err)
    plan = dict(fk.flows.backprop_plan(fk.with_memory_mode(flow, "invertible").bijector))
    assert plan["Coupling[StandardizeTransformer]"] == "invert" and plan["Rescale"] == "invert"
    # data_init reaches every ActNorm, past the split prior; the prior's conv is left alone.
    again = fk.data_init(flow, x)

    def of_type(model, cls):
        nodes = jax.tree_util.tree_leaves(model, is_leaf=lambda n: isinstance(n, cls))
        return [n for n in nodes if isinstance(n, cls)]

    norms = zip(of_type(again, fk.ActNorm), of_type(flow, fk.ActNorm), strict=True)
    assert all(not np.allclose(a.loc, b.loc) for a, b in norms)

    def priors(model):  # the split priors: the couplings with a standardize transformer
        couplings = of_type(model, fk.Coupling)
        return [
            c for c in couplings if isinstance(c.transformer, fk.bijectors.StandardizeTransformer)
        ]

    (prior,), (prior_before,) = priors(again), priors(flow)
    np.testing.assert_array_equal(prior.conditioner.net.weight, prior_before.conditioner.net.weight)
    path = fk.save(tmp_path / "glow.flowkit", flow)
    loaded = fk.load(path)
    log_prob = eqx.filter_jit(lambda f, x: f.log_prob(x))
    np.testing.assert_array_equal(log_prob(loaded, x), log_prob(flow, x))
