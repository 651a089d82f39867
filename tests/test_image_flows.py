"""Multi-scale image flows: factored latents, temperature, scale checks, bits/dim, training."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import load_digits

import flowkit as fk

DIGIT_LEVELS = 17  # load_digits pixels take the 17 values 0..16; modelled as 17 levels


@eqx.filter_jit
def _log_prob(flow, x):
    return flow.log_prob(x)


# --- training on 8x8 digits ---------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    images = load_digits().images.astype(np.int32)  # (1797, 8, 8), values 0..16
    return images[..., None]


def _fit(flow, digits, steps: int, learning_rate: float, state=None):
    """Adam on the dequantized digits; returns (trained flow, bpd before, bpd after, state),
    the bits/dim measured on held-out images. With a BatchNorm ``state``, each step also
    advances the running statistics (the held-out bits/dim then use batch statistics)."""
    held_out = fk.dequantize(jax.random.key(9), digits[-128:], num_levels=DIGIT_LEVELS)
    train = digits[:-128]
    params, static = eqx.partition(flow, fk.flows.trainable_filter(flow))
    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(params)

    def bpd(params, x):
        log_p = eqx.combine(params, static).log_prob(x)
        return jnp.mean(fk.bits_per_dim(log_p, 64, num_levels=DIGIT_LEVELS))

    @eqx.filter_jit
    def step(params, opt_state, state, x):
        loss, grads = jax.value_and_grad(bpd)(params, x)
        if state is not None:
            state = fk.flows.update_batch_norm_state(eqx.combine(params, static), state, x)
        updates, opt_state = fk.train.optimizer_update(optimizer, grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, state, loss

    def evaluate(params):  # the step's loss on held-out data, its update discarded: no
        return float(step(params, opt_state, state, held_out)[3])  # second compilation

    before = evaluate(params)
    key = jax.random.key(10)
    for i in range(steps):
        k_batch, k_noise = jax.random.split(jax.random.fold_in(key, i))
        idx = jax.random.choice(k_batch, len(train), (128,), replace=False)
        x = fk.dequantize(k_noise, train[np.asarray(idx)], num_levels=DIGIT_LEVELS)
        params, opt_state, state, _ = step(params, opt_state, state, x)
    after = evaluate(params)
    return eqx.combine(params, static), before, after, state


@pytest.fixture(scope="module")
def trained_glow(digits):
    """A small Glow, ActNorm-initialised on digits and trained for 40 steps."""
    flow = fk.glow(
        jax.random.key(0), image_shape=(8, 8, 1), num_scales=2, layers_per_scale=2, width=8, depth=0
    )
    init_batch = fk.dequantize(jax.random.key(1), digits[:256], num_levels=DIGIT_LEVELS)
    return _fit(fk.data_init(flow, init_batch), digits, steps=40, learning_rate=1e-2)[:3]


def test_sampling_draws_every_latent_temperature_and_change_of_variables(trained_glow):
    flow = trained_glow[0]
    key = jax.random.key(2)
    latent = flow.base.sample(seed=key, sample_shape=(4,))
    # A latent factored out at the first scale: the last channels of its (4, 4, 4) view.
    rescale, model = flow.bijector.bijector.layers  # Glow's x - 0.5, then the scales
    assert isinstance(rescale, fk.Rescale) and (rescale.low, rescale.high) == (-0.5, 0.5)
    assert model.hidden_shape == (4, 4, 4) and model.num_kept == 2
    bumped = latent[0].reshape(4, 4, 4).at[1, 2, 3].add(1.0).reshape(8, 8, 1)

    @eqx.filter_jit
    def run(flow):
        x = flow.sample(key, (4,))
        x_cold = flow.sample(key, (4,), temperature=0.5)
        z, log_det = jax.vmap(flow.bijector.inverse_and_log_det)(x)
        by_hand = jax.scipy.stats.norm.logpdf(z).sum(axis=(1, 2, 3)) + log_det
        z_cold = jax.vmap(flow.bijector.inverse)(x_cold)
        return x, z, z_cold, flow.bijector.forward(bumped), flow.log_prob(x), by_hand

    x, z, z_cold, x_bumped, log_p, by_hand = run(flow)
    # log p(x) is the change of variables through every scale.
    np.testing.assert_allclose(log_p, by_hand, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(z, latent, atol=2e-3)
    # Glow's temperature: every latent, the factored-out ones included, is scaled by T.
    np.testing.assert_allclose(z_cold, 0.5 * latent, atol=2e-3)
    # The factored-out latent reaches the image.
    assert np.abs(np.asarray(x_bumped - x[0])).max() > 1e-3


@pytest.mark.parametrize(
    "factory, shape, num_scales, valid",
    [
        (fk.glow, (28, 28, 1), 3, "1, 2"),
        (fk.glow, (6, 10, 3), 2, "1"),
        (fk.realnvp_multiscale, (8, 8, 1), 4, "1, 2, 3"),
    ],
)
def test_scale_counts_that_do_not_fit_the_image(factory, shape, num_scales, valid):
    with pytest.raises(
        ValueError,
        match=rf"cannot be split into {num_scales} scales.*Valid num_scales for this shape: "
        rf"{valid}\.",
    ):
        factory(key=jax.random.key(0), image_shape=shape, num_scales=num_scales)
    with pytest.raises(ValueError, match=r"image of shape \(H, W, C\).*got shape \(28, 28\)"):
        factory(key=jax.random.key(0), image_shape=(28, 28), num_scales=1)


def _glow_28_parameters(hidden: int, blocks: int) -> int:
    """Glow on (28, 28, 1), 2 scales, LU 1x1 convs, one residual block per conditioner,
    a split prior (3x3 conv, 2 -> 2 x 2 channels) and a learned top (7 x 7 x 8, twice)."""
    total = (3 * 3 * 2 * 4 + 4) + 2 * 7 * 7 * 8
    for (h, w), c in (((14, 14), 4), ((7, 7), 8)):
        actnorm, conv = 2 * c, 2 * c * c + c  # loc + log-scale; strict L, strict U, log|s|
        half = c // 2

        def wn(cin, cout, k):  # weight, bias, weight-norm gain
            return cout * cin * k * k + 2 * cout

        net = wn(half, hidden, 3) + wn(hidden, hidden, 3) + wn(hidden, hidden, 1)
        net += wn(hidden, 2 * half, 3)
        total += blocks * (actnorm + conv + net + h * w * half)  # + the coupling's rescale
    return total


def test_glow_on_28x28_builds_counts_parameters_and_evaluates():
    flow = fk.glow(jax.random.key(0), image_shape=(28, 28, 1), num_scales=2, layers_per_scale=8)
    count = fk.count_parameters(flow)
    print(f"glow(28x28x1, num_scales=2, layers_per_scale=8): {count} parameters")
    assert count == _glow_28_parameters(128, 8)
    x = jax.random.uniform(jax.random.key(1), (4, 28, 28, 1))
    log_p = _log_prob(flow, x)
    assert log_p.shape == (4,) and np.all(np.isfinite(log_p))


# --- bits per dimension -------------------------------------------------------------------


def test_uniform_model_of_uniform_noise_is_exactly_8_bits_per_dim():
    pixels = jax.random.randint(jax.random.key(0), (16, 4, 4, 3), 0, 256)
    x = fk.dequantize(jax.random.key(1), pixels)
    assert 0.0 <= float(x.min()) and float(x.max()) < 1.0
    unit = fk.Flow(fk.Identity((4, 4, 3)), fk.uniform((4, 4, 3)))
    signed = fk.Flow(fk.Identity((4, 4, 3)), fk.uniform((4, 4, 3), -1.0, 1.0))
    log_p, log_p_signed = eqx.filter_jit(
        lambda u, s, x: (u.log_prob(x), s.log_prob(2.0 * x - 1.0))
    )(unit, signed, x)
    np.testing.assert_array_equal(fk.bits_per_dim(log_p, 48), 8.0)
    # The same data in [-1, 1] under U(-1, 1): the wider bins are accounted for.
    bpd = fk.bits_per_dim(log_p_signed, 48, data_range=2.0)
    np.testing.assert_allclose(bpd, 8.0, rtol=1e-6)


def test_bits_per_dim_through_the_logit_preprocessing_log_det():
    # logit(U(0, 1)) is standard logistic: a logistic base behind a logit preprocessing
    # is again the uniform model (up to the factor 1 - 2 alpha, here 1 - 2e-6), so only a
    # correct log-det gives 8 bits/dim.
    x = fk.dequantize(
        jax.random.key(1), jax.random.randint(jax.random.key(0), (64, 2, 2, 1), 0, 256)
    )
    flow = fk.Flow(
        fk.Invert(fk.bijectors.LogitPreprocess((2, 2, 1), alpha=1e-6)),
        fk.standard_logistic((2, 2, 1)),
    )
    np.testing.assert_allclose(fk.bits_per_dim(_log_prob(flow, x), 4), 8.0, rtol=1e-5)
    # With alpha > 0 the model is no longer uniform: more bits.
    squeezed = fk.Flow(
        fk.Invert(fk.bijectors.LogitPreprocess((2, 2, 1), alpha=0.05)),
        fk.standard_logistic((2, 2, 1)),
    )
    assert float(fk.bits_per_dim(_log_prob(squeezed, x), 4).mean()) > 8.0
    with pytest.raises(ValueError, match="need num_dims >= 1, num_levels >= 2"):
        fk.bits_per_dim(0.0, 0)


def test_glow_learns_digits(trained_glow):
    _, before, after = trained_glow
    print(f"glow on digits: {before:.3f} -> {after:.3f} bits/dim")  # measured 4.467 -> 3.401
    assert after < before - 0.5
    assert after < math.log2(DIGIT_LEVELS) - 0.3  # uniform over the 17 levels: 4.09


def test_realnvp_multiscale_with_batch_norm_learns_digits(digits):
    flow = fk.realnvp_multiscale(
        jax.random.key(0),
        image_shape=(8, 8, 1),
        num_scales=2,
        layers_per_scale=1,
        final_layers=4,  # two (mask, complement) pairs: a scan-stacked Stack
        width=8,
        depth=0,
        batch_norm=True,
    )
    state = eqx.nn.State(flow)
    trained, before, after, state = _fit(flow, digits, steps=40, learning_rate=3e-3, state=state)
    print(f"realnvp_multiscale+BN on digits: {before:.3f} -> {after:.3f} bits/dim")
    assert after < before - 0.5  # measured 3.880 -> 3.020
    assert after < math.log2(DIGIT_LEVELS) - 0.6
    # Inference mode with the running statistics: every BatchNorm (stacked ones too) has
    # moved off its initial (0, 1), and the flow evaluates and samples.
    model = fk.flows.batch_norm_inference(trained, state)
    layers = jax.tree_util.tree_leaves(model, is_leaf=lambda n: isinstance(n, fk.BatchNorm))
    norms = [n for n in layers if isinstance(n, fk.BatchNorm)]
    assert len(norms) == 4 and all(n.inference for n in norms)
    assert sum(n.running_statistics()[0].ndim == 2 for n in norms) == 2  # the stacked pair
    for norm in norms:
        mean, var = norm.running_statistics()
        assert np.abs(np.asarray(mean)).min() > 0 and np.abs(np.asarray(var) - 1).min() > 0
    x, log_p = eqx.filter_jit(lambda f: f.sample_and_log_prob(jax.random.key(3), (8,)))(model)
    assert x.shape == (8, 8, 8, 1) and np.all(np.isfinite(log_p))
