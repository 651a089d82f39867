"""fit's image recipes (issue 15): ActNorm data init before fit, TarFlow's noise
augmentation (a loss option), batch norm's running statistics, per-step losses, and preprocessing
kept inside the flow (with_preprocessing) so scores stay in data space."""

import math

import distrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import flowkit as fk
from flowkit.data import DIGIT_LEVELS, load_dataset
from flowkit.train import NLL, BitsPerDim, Stopping
from tests.registry._random import randomize


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train").x[:256]  # (256, 8, 8, 1) pixels, 17 levels


def _small_glow(key):
    return fk.glow(key, image_shape=(8, 8, 1), num_scales=1, layers_per_scale=2, width=4, depth=0)


def _vector_flow(key):
    """A small RealNVP on the flattened digits: what is generic in fit needs no convolutions."""
    return fk.realnvp(key, dim=64, num_layers=2, width=16, depth=1)


def _actnorms(flow):
    is_actnorm = lambda m: isinstance(m, fk.ActNorm)  # noqa: E731
    return [m for m in jax.tree_util.tree_leaves(flow, is_leaf=is_actnorm) if is_actnorm(m)]


@pytest.mark.filterwarnings("ignore:no epoch beat the initial parameters")
def test_data_init_before_fit_is_kept_by_a_tiny_learning_rate(key, digits):
    flow = _small_glow(key)
    fit = dict(
        loss=BitsPerDim(num_levels=DIGIT_LEVELS), stopping=Stopping(max_steps=2), batch_size=64,
        optimizer=optax.adam(1e-12), progress=False,
    )  # fmt: skip
    x = fk.dequantize(jax.random.fold_in(key, 7), digits[:512], num_levels=DIGIT_LEVELS)
    by_hand = fk.data_init(flow, x)  # what a user calls before fit
    inited, history = fk.fit(key, by_hand, digits, **fit)
    plain, _ = fk.fit(key, flow, digits, **fit)
    assert len(history.step_loss) == history.steps == 2
    # a learning rate of 1e-12 leaves what data_init set: the fresh ActNorms are identities,
    # the initialised ones are not
    first = lambda f: _actnorms(f)[0]  # noqa: E731
    assert float(jnp.max(jnp.abs(first(plain).log_scale))) < 1e-9
    assert float(jnp.max(jnp.abs(first(inited).log_scale))) > 0.1
    np.testing.assert_allclose(first(inited).log_scale, first(by_hand).log_scale, atol=1e-6)


@pytest.mark.filterwarnings("ignore:no epoch beat the initial parameters")
def test_noise_augmentation_changes_the_training_loss_not_validation(key, digits):
    flow, digits = randomize(_vector_flow(key), key), digits.reshape(-1, 64)
    fit = dict(
        stopping=Stopping(max_steps=1), batch_size=64, optimizer=optax.adam(1e-12),
        progress=False,
    )  # fmt: skip
    _, clean = fk.fit(key, flow, digits, loss=BitsPerDim(num_levels=DIGIT_LEVELS), **fit)
    noisy_loss = BitsPerDim(num_levels=DIGIT_LEVELS, noise_std=0.1)
    _, noisy = fk.fit(key, flow, digits, loss=noisy_loss, **fit)
    assert abs(noisy.step_loss[0] - clean.step_loss[0]) > 1e-3  # the step saw other data
    assert noisy.initial_val_loss == pytest.approx(clean.initial_val_loss)  # clean scoring
    with pytest.raises(ValueError, match=r"BitsPerDim: noise_std must be >= 0; got -1.0"):
        BitsPerDim(noise_std=-1.0)
    with pytest.raises(ValueError, match=r"NLL: noise_std must be >= 0"):
        NLL(noise_std=-1.0)


def test_batch_norm_statistics_advance_in_fit_and_come_back_in_inference_mode(key, digits):
    flow = fk.realnvp_multiscale(
        key,
        image_shape=(8, 8, 1),
        num_scales=1,
        layers_per_scale=1,
        final_layers=1,
        width=8,
        depth=0,
        logit_alpha=0.05,
        batch_norm=True,
    )
    is_bn = lambda m: isinstance(m, fk.BatchNorm)  # noqa: E731
    norms = lambda f: [m for m in jax.tree_util.tree_leaves(f, is_leaf=is_bn) if is_bn(m)]  # noqa: E731
    assert norms(flow) and not any(bn.inference for bn in norms(flow))
    fit = dict(
        loss=BitsPerDim(num_levels=DIGIT_LEVELS), stopping=Stopping(max_steps=3), batch_size=64,
        progress=False,
    )  # fmt: skip
    best, history = fk.fit(key, flow, digits, **fit)
    assert history.epochs >= 1 and all(bn.inference for bn in norms(best))
    mean, var = norms(best)[0].running_statistics()
    assert float(jnp.max(jnp.abs(mean))) > 1e-4 and float(jnp.max(jnp.abs(var - 1))) > 1e-4
    assert np.isfinite(fk.evaluate(best, digits[:32]).mean)
    # the statistics are never trained by the optimiser
    spec = fk.flows.trainable_filter(flow)
    is_index = lambda m: isinstance(m, eqx.nn.StateIndex)  # noqa: E731
    held = [s for s in jax.tree_util.tree_leaves(spec, is_leaf=is_index) if is_index(s)]
    assert held and not any(jax.tree_util.tree_leaves(held))
    with pytest.raises(ValueError, match=r"train this flow with parallel='shard'"):
        fk.fit(key, flow, digits, parallel="pmap", **fit)


def test_advance_batch_norm_equals_the_state_update(key, digits):
    flow = fk.realnvp_multiscale(
        key, image_shape=(8, 8, 1), num_scales=1, layers_per_scale=1, final_layers=1,
        width=8, depth=0, batch_norm=True,
    )  # fmt: skip
    x = fk.dequantize(key, digits[:64], num_levels=DIGIT_LEVELS)
    state = fk.flows.update_batch_norm_state(flow, eqx.nn.State(flow), x)
    by_state = fk.flows.batch_norm_inference(flow, state)
    in_model = fk.flows.batch_norm_inference(fk.flows.advance_batch_norm(flow, x))
    np.testing.assert_array_equal(by_state.log_prob(x), in_model.log_prob(x))


def test_with_preprocessing_scores_in_data_space(key):
    dim = 4
    flow = randomize(fk.realnvp(key, dim=dim, num_layers=2, width=8), key)
    signed = fk.with_preprocessing(flow, fk.Rescale((dim,), -1.0, 1.0))
    x = jax.random.uniform(jax.random.fold_in(key, 1), (5, dim))
    # p_data(x) = p_model(2x - 1) * 2^D
    np.testing.assert_allclose(
        signed.log_prob(x), flow.log_prob(2 * x - 1) + dim * math.log(2), rtol=1e-5
    )
    z_key = jax.random.fold_in(key, 2)
    np.testing.assert_allclose(
        signed.sample(z_key, 3), (flow.sample(z_key, 3) + 1) / 2, rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"return events of shape \(3,\) but the flow takes"):
        fk.with_preprocessing(flow, fk.Rescale((3,), -1.0, 1.0))
    with pytest.raises(ValueError, match="at least one bijector"):
        fk.with_preprocessing(flow)


def test_flow_over_a_shape_changing_bijector(key):
    base = distrax.Independent(distrax.Normal(jnp.zeros((4, 4, 1)), 1.0), 3)
    flow = fk.Flow(fk.Squeeze((4, 4, 1)), base)  # latents (4, 4, 1) -> data (2, 2, 2, 4)
    assert flow.shape == (2, 2, 4)
    assert flow.sample(key, 2).shape == (2, 2, 2, 4)
    x = flow.sample(key, 3)
    np.testing.assert_allclose(
        flow.log_prob(x), base.log_prob(jax.vmap(fk.Squeeze((4, 4, 1)).inverse)(x))
    )
    with pytest.raises(ValueError, match=r"latent shape \(its input shape\) \(4, 4, 1\)"):
        fk.Flow(
            fk.Squeeze((4, 4, 1)), distrax.Independent(distrax.Normal(jnp.zeros((2, 2, 4)), 1.0), 3)
        )
