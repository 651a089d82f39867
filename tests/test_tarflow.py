"""TarFlow (issue 18): the KV-cached sampler against the uncached reference, causality,
Patchify's layout and errors, denoising, noise augmentation, a short training run on 8x8
digits, and save/load."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import flowkit as fk
from flowkit.train import NLL

from .registry._random import randomize


def _block(key, **kwargs):
    k_init, k_rand = jax.random.split(key)
    layer = fk.bijectors.TransformerAutoregressive.from_sizes(
        k_init, (6, 4), width=16, depth=2, heads=2, **kwargs
    )
    return randomize(layer, k_rand)


@pytest.mark.parametrize("reverse", [False, True])
def test_cached_sampling_equals_uncached(key, reverse):
    cond = jnp.array([0.3, -1.0, 2.0])
    layer = _block(key, reverse=reverse, cond_shape=(3,))
    z = jax.random.normal(jax.random.fold_in(key, 1), (6, 4))
    fwd = eqx.filter_jit(lambda b, u: b.forward_and_log_det(u, cond))
    ref = eqx.filter_jit(lambda b, u: b.forward_and_log_det_uncached(u, cond))
    (x, ld), (x_ref, ld_ref) = fwd(layer, z), ref(layer, z)
    assert float(jnp.max(jnp.abs(x - x_ref))) < 1e-5
    assert abs(float(ld - ld_ref)) < 1e-4
    assert float(jnp.max(jnp.abs(x - z))) > 0.1  # random parameters: not the identity
    z_back, _ = layer.inverse_and_log_det(x, cond)
    np.testing.assert_allclose(z_back, z, atol=1e-5)


def test_transformer_step_matches_full_pass(key):
    net = fk.nn.CausalTransformer(key, 5, 3, 7, width=16, depth=2, heads=4, cond_size=2)
    net = randomize(net, jax.random.fold_in(key, 1))
    x = jax.random.normal(jax.random.fold_in(key, 2), (5, 3))
    cond = jnp.array([1.0, -0.5])
    full = net(x, cond)

    def step(cache, inputs):
        t, token = inputs
        out, cache = net.step(cache, t, token, cond)
        return cache, out

    _, stepped = jax.lax.scan(step, net.init_cache(), (jnp.arange(5), x))
    np.testing.assert_allclose(stepped, full, atol=1e-5)


def test_density_pass_is_causal_with_shift_by_one(key):
    layer = _block(key)
    x = jax.random.normal(jax.random.fold_in(key, 1), (6, 4))
    jac = jax.jacobian(lambda u: layer.inverse(u))(x)  # (6, 4, 6, 4): dz[t]/dx[s]
    blocks = jnp.max(jnp.abs(jac), axis=(1, 3))  # (t, s)
    assert float(jnp.max(jnp.triu(blocks, k=1))) == 0.0  # z[t] never reads x[s > t]
    diag = jac[jnp.arange(6), :, jnp.arange(6), :]  # (6, 4, 4): within a position, diagonal
    assert float(jnp.max(jnp.abs(diag * (1 - jnp.eye(4))))) == 0.0
    assert float(jnp.min(jnp.max(jnp.tril(blocks, k=-1)[1:], axis=1))) > 0  # reads the prefix


def test_fresh_tarflow_is_identity_and_cached_sampling_matches(key):
    kwargs = dict(image_shape=(4, 4, 1), patch_size=2, num_blocks=3, layers_per_block=1)
    kwargs.update(width=16, heads=2)
    fresh = fk.tarflow(key, **kwargs)
    z = jax.random.normal(jax.random.fold_in(key, 1), (2, 4, 4, 1))
    np.testing.assert_allclose(jax.vmap(fresh.bijector.forward)(z), z, atol=1e-6)
    k_rand = jax.random.fold_in(key, 2)
    cached = randomize(fresh, k_rand)
    uncached = randomize(fk.tarflow(key, **kwargs, kv_cache=False), k_rand)
    k_sample = jax.random.fold_in(key, 3)
    x, log_p = cached.sample_and_log_prob(k_sample, (3,))
    x_ref, log_p_ref = uncached.sample_and_log_prob(k_sample, (3,))
    np.testing.assert_allclose(x, x_ref, rtol=1e-5, atol=1e-4)  # float32, |x| up to ~40
    np.testing.assert_allclose(log_p, log_p_ref, atol=1e-3)
    np.testing.assert_allclose(cached.log_prob(x), log_p, atol=1e-3)


def test_patchify_layout_and_errors():
    image = jnp.arange(4 * 6 * 2, dtype=jnp.float32).reshape(4, 6, 2)
    patches = fk.bijectors.Patchify((4, 6, 2), 2).forward(image)
    assert patches.shape == (6, 8)
    np.testing.assert_array_equal(patches[4], image[2:4, 2:4].reshape(-1))  # row 1, column 1
    with pytest.raises(ValueError, match=r"divisible by patch_size=3; got image shape \(4, 6, 2\)"):
        fk.bijectors.Patchify((4, 6, 2), 3)
    with pytest.raises(ValueError, match="expected one image of shape"):
        fk.bijectors.Patchify((4, 4), 2)
    with pytest.raises(ValueError, match="T must be even"):
        fk.bijectors.jet_coupling(jax.random.key(0), (3, 4), split="spatial")


def test_block_rejects_mismatched_conditioner(key):
    net = fk.nn.CausalTransformer(key, 4, 4, 5, width=8, depth=1, heads=2)
    with pytest.raises(ValueError, match=r"needs in_features \* num_params = 4 \* 2 = 8"):
        fk.bijectors.TransformerAutoregressive(net)


def test_denoise_moves_noisy_samples_to_higher_density(key):
    flow = fk.tarflow(
        key, image_shape=(4, 4, 1), patch_size=2, num_blocks=2, layers_per_block=1, width=16
    )  # fresh: the identity over N(0, I), whose score is -x
    noisy = fk.flows.add_noise(jax.random.fold_in(key, 1), 2.0 * jnp.ones((5, 4, 4, 1)), 0.5)
    clean = fk.flows.denoise(flow, noisy, 0.5)
    np.testing.assert_allclose(clean, noisy * (1 - 0.25), rtol=1e-5)  # x + sigma^2 * (-x)
    assert bool(jnp.all(flow.log_prob(clean) > flow.log_prob(noisy)))


def test_noise_augmented_loss_adds_noise(key):
    flow = fk.tarflow(
        key, image_shape=(4, 4, 1), patch_size=2, num_blocks=1, layers_per_block=1, width=16
    )
    x = jnp.zeros((4, 4, 4, 1))
    keys = jax.random.split(key, 4)
    clean = NLL()(flow, x, None, keys)["loss"]
    noisy = NLL(noise_std=0.5)(flow, x, None, keys)["loss"]
    assert bool(jnp.all(noisy > clean))  # noise moves zeros off the base mode
    np.testing.assert_allclose(NLL(noise_std=0.0)(flow, x, None, keys)["loss"], clean)


def _digits(n=256):
    from flowkit.data import load_dataset

    images = load_dataset("digits", "train").x[:n]
    u = np.random.default_rng(0).uniform(size=images.shape)
    return jnp.asarray((images + u) / 17.0, jnp.float32)


def test_tarflow_trains_on_digits_and_round_trips_through_save(key, tmp_path):
    flow = fk.tarflow(
        key, image_shape=(8, 8, 1), patch_size=2, num_blocks=2, layers_per_block=1, width=32
    )
    data = _digits()
    optimizer = optax.adam(3e-3)
    params, static = eqx.partition(flow, fk.flows.trainable_filter(flow))
    opt_state = optimizer.init(params)

    @eqx.filter_jit
    def step(params, opt_state, batch):
        def loss(p):
            return -jnp.mean(eqx.combine(p, static).log_prob(batch))

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = fk.train.optimizer_update(optimizer, grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    losses = []
    for i in range(30):
        batch = data[(i * 64) % 256 : (i * 64) % 256 + 64]
        params, opt_state, value = step(params, opt_state, batch)
        losses.append(float(value))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 10.0, losses  # nats per image

    trained = eqx.combine(params, static)
    path = fk.save(tmp_path / "tarflow.flowkit", trained)
    skeleton = fk.tarflow(
        jax.random.key(99),
        image_shape=(8, 8, 1),
        patch_size=2,
        num_blocks=2,
        layers_per_block=1,
        width=32,
    )
    loaded = fk.load(path, like=skeleton)
    np.testing.assert_allclose(loaded.log_prob(data[:8]), trained.log_prob(data[:8]), rtol=1e-6)
    k = jax.random.key(5)
    np.testing.assert_allclose(loaded.sample(k, (2,)), trained.sample(k, (2,)), atol=1e-6)


def test_guided_cached_sampling_equals_guided_uncached_and_inverts_its_own_map(key):
    cond = jnp.array([0.3, -1.0, 2.0])
    layer = _block(key, reverse=True, cond_shape=(3,))
    guided = fk.flows.with_guidance(layer, 1.5)
    z = jax.random.normal(jax.random.fold_in(key, 1), (6, 4))
    fwd = eqx.filter_jit(lambda b, u: b.forward_and_log_det(u, cond))
    (x, ld), (x0, _) = fwd(guided, z), fwd(layer, z)
    x_ref, ld_ref = guided.forward_and_log_det_uncached(z, cond)
    np.testing.assert_allclose(x, x_ref, atol=1e-5)
    assert abs(float(ld - ld_ref)) < 1e-4
    assert bool(jnp.all(jnp.isfinite(x))) and x.shape == z.shape
    assert float(jnp.max(jnp.abs(x - x0))) > 1e-2  # guidance changes the samples
    # Guidance 0 is plain conditional sampling; the null condition (zeros) is unchanged by
    # guidance, since its conditional and unconditional predictions coincide.
    np.testing.assert_array_equal(fwd(fk.flows.with_guidance(layer, 0.0), z)[0], x0)
    zero = jnp.zeros(3)
    np.testing.assert_array_equal(guided.forward(z, zero), layer.forward(z, zero))


def test_guided_tarflow_samples_under_jit(key):
    flow = fk.tarflow(
        key,
        image_shape=(4, 4, 1),
        patch_size=2,
        num_blocks=2,
        layers_per_block=1,
        width=16,
        heads=2,
        cond_shape=(3,),
    )
    flow = randomize(flow, jax.random.fold_in(key, 1))
    cond = jnp.array([0.0, 1.0, 0.0])
    sample = eqx.filter_jit(lambda f, k: f.sample(k, (5,), cond))
    k = jax.random.fold_in(key, 2)
    plain, guided = sample(flow, k), sample(fk.flows.with_guidance(flow, 2.0), k)
    assert guided.shape == (5, 4, 4, 1) and bool(jnp.all(jnp.isfinite(guided)))
    assert float(jnp.max(jnp.abs(guided - plain))) > 1e-2
    with pytest.raises(ValueError, match="needs conditional TransformerAutoregressive"):
        fk.flows.with_guidance(fk.tarflow(key, image_shape=(4, 4, 1), patch_size=2, width=16), 1.0)


def test_drop_condition_replaces_a_fraction_with_the_null_condition(key):
    cond = jnp.ones((1000, 3))
    dropped = fk.flows.drop_condition(key, cond, 0.25)
    rows_null = jnp.all(dropped == 0, axis=1)
    assert bool(jnp.all(rows_null | jnp.all(dropped == 1, axis=1)))  # whole rows only
    assert 0.2 < float(jnp.mean(rows_null)) < 0.3
    np.testing.assert_array_equal(fk.flows.drop_condition(key, cond, 0.0), cond)
    with pytest.raises(ValueError, match="0 <= rate <= 1"):
        fk.flows.drop_condition(key, cond, 1.5)
