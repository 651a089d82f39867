"""The ordinary snippets a JAX user tries first: each works as expected or fails in one line
that says what was expected."""

import functools
from typing import Literal, get_args, get_origin

import distrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk
from tests.registry._random import randomize


@pytest.fixture(scope="module")
def key():
    return jax.random.key(0)


def test_key_first_positional_or_keyword(key):
    a = fk.realnvp(key, dim=2, num_layers=2, width=8)
    b = fk.realnvp(key=key, dim=2, num_layers=2, width=8)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    mask = fk.bijectors.half_mask(4)
    for layer in (
        fk.affine_coupling(key, mask, width=8),
        fk.additive_coupling(key, mask, width=8),
        fk.spline_coupling(key, mask, width=8),
        fk.InvertibleConv1x1(key, (2, 2, 3)),
        fk.InvertibleConv1x1LU(key, (2, 2, 3)),
    ):
        assert isinstance(layer, fk.AbstractBijector)
    assert isinstance(fk.nn.MLP(key, 2, 3), fk.nn.MLP) and isinstance(
        fk.nn.MADE(key, 3, 2), fk.nn.MADE
    )


def test_camel_case_names_are_classes(key):
    mask = fk.bijectors.half_mask(4)
    # The named couplings are factory functions of the one final Coupling class.
    affine = fk.affine_coupling(key, mask, width=8)
    assert type(affine) is fk.Coupling and isinstance(
        affine.transformer, fk.bijectors.AffineTransformer
    )
    additive = fk.additive_coupling(key, mask, width=8)
    assert isinstance(additive.transformer, fk.bijectors.AdditiveTransformer)
    assert type(fk.spline_coupling(key, mask, width=8)) is fk.Coupling
    conv = fk.bijectors.conv_affine_coupling(
        key, fk.bijectors.channel_mask(2, 2, 2), width=4, depth=0
    )
    assert type(conv) is fk.Coupling and isinstance(conv.conditioner, fk.bijectors.ImageConditioner)
    exported = [getattr(fk, n) for n in dir(fk) if n[:1].isupper() and n[1:2].islower()]
    # CamelCase names are classes, or the Literal types of string options (MemoryModeName).
    odd = [o for o in exported if not (isinstance(o, type) or get_origin(o) is Literal)]
    assert not odd, odd
    assert get_args(fk.flows.MemoryModeName) == ("standard", "remat", "invertible")


def test_factories_take_objects(key):
    base = distrax.Independent(distrax.Laplace(jnp.zeros(2), jnp.ones(2)), 1)
    flow = fk.realnvp(key, dim=2, num_layers=2, width=8, base=base)
    assert flow.base.event_shape == (2,) and np.isfinite(flow.log_prob(jnp.ones(2)))
    spline = fk.bijectors.RationalQuadraticSplineTransformer(4, 2.0)
    flow = fk.maf(key, dim=3, num_layers=2, width=8, transformer=spline)
    assert flow.bijector.layers.layers[0].transformer.num_params == spline.num_params
    made = functools.partial(fk.nn.MADE, width=12, order="random")
    flow = fk.maf(key, dim=3, num_layers=2, conditioner=made)
    assert flow.bijector.layers.layers[0].made.layers[0].weight.shape[1] == 12
    mlp = functools.partial(fk.nn.MLP, width=12, activation=jax.nn.tanh)
    flow = fk.realnvp(
        key, dim=4, num_layers=2, conditioner=mlp, transformer=fk.bijectors.AffineTransformer
    )
    assert flow.bijector.layers.layers[0].conditioner.layers[0].weight.shape[1] == 12
    with pytest.raises(ValueError, match=r"event shape \(3,\) must be the flow's latent shape"):
        fk.realnvp(key, dim=2, base=distrax.Independent(distrax.Normal(jnp.zeros(3), 1.0), 1))
    with pytest.raises(ValueError, match="holds per-entry parameters of shape \\(3,\\)"):
        fk.realnvp(key, dim=4, transformer=fk.bijectors.AffineTransformer(3))


def test_one_set_of_size_names(key):
    fk.glow(key, image_shape=(4, 4, 1), num_scales=1, layers_per_scale=1, width=4, depth=1)
    fk.realnvp_multiscale(
        key, image_shape=(4, 4, 1), num_scales=1, final_layers=1, width=4, depth=0
    )
    for old in ("hidden_channels", "blocks_per_scale", "cond_dim"):
        with pytest.raises(TypeError, match=old):
            fk.glow(key, image_shape=(4, 4, 1), **{old: 2})


def test_conditions_broadcast_like_flowjax(key):
    flow = randomize(fk.realnvp(key, dim=2, num_layers=2, width=8, cond_shape=3), key)
    x = jax.random.normal(key, (4, 2))
    conditions = jax.random.normal(jax.random.key(1), (5, 1, 3))
    assert flow.log_prob(x, conditions).shape == (5, 4)  # (5, 1) against (4,)
    np.testing.assert_allclose(
        flow.log_prob(x, conditions)[2], flow.log_prob(x, conditions[2, 0]), rtol=1e-5
    )
    assert flow.sample(key, (7,), condition=conditions).shape == (7, 5, 1, 2)
    assert flow.sample(key, condition=conditions[:, 0]).shape == (5, 2)
    with pytest.raises(ValueError, match=r"do not broadcast"):
        flow.log_prob(x, jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"expected condition of shape \(\*batch, 3\)"):
        flow.log_prob(x, jnp.zeros((4, 2)))


def test_sample_shape_int_and_traced_temperature(key):
    flow = fk.realnvp(key, dim=2, num_layers=2, width=8)
    assert flow.sample(key, 3).shape == (3, 2)
    hot = eqx.filter_jit(lambda f, t: f.sample(key, 4, temperature=t))(flow, 0.5)
    np.testing.assert_allclose(hot, flow.sample(key, 4, temperature=0.5), rtol=1e-6)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        flow.sample(key, 3, temperature=0.0)


def test_shape_changing_bijector_in_distrax_keeps_batch_and_event(key):
    squeeze = fk.ToDistrax(fk.Squeeze((4, 4, 1)))
    x = jax.random.normal(key, (2, 4, 4, 1))
    y = squeeze.forward(x)
    assert y.shape == (2, 2, 2, 4)
    np.testing.assert_array_equal(squeeze.inverse(y), x)
    with pytest.raises(ValueError, match=r"expected an array of shape \(\*batch, 2, 2, 4\)"):
        squeeze.inverse(x)


def test_conditioner_of_the_wrong_size_is_refused(key):
    mlp = fk.nn.MLP(key, 2, 3 * 2, zero_init_output=False)  # 3 numbers per entry; affine needs 2
    coupling = fk.Coupling(fk.bijectors.half_mask(4), mlp, fk.bijectors.AffineTransformer(2))
    with pytest.raises(ValueError, match=r"returned 6 numbers but the AffineTransformer needs 4"):
        coupling.forward(jnp.ones(4))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_is_refused_in_one_line(key, dtype):
    flow = fk.realnvp(key, dim=2, num_layers=2, width=8)
    with pytest.raises(TypeError) as info:
        flow.log_prob(jnp.ones((3, 2), dtype))
    assert "\n" not in str(info.value) and "float32" in str(info.value)


@pytest.mark.own_errors  # Tanh(3): flowkit's own message, not the runtime checker's
def test_constructor_mistakes_name_what_was_expected(key):
    with pytest.raises(TypeError, match=r"Tanh: shape must be a tuple of non-negative ints"):
        fk.Tanh(3)
    coupling = fk.affine_coupling(key, fk.bijectors.half_mask(4), width=8)
    with pytest.raises(TypeError, match=r"Stack\.from_factory\(key, make_layer, num_layers\)"):
        fk.Stack(coupling)
    with pytest.raises(ValueError, match=r"expected stacked layers"):
        fk.Stack(coupling, 3)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 0\.5\)"):
        fk.bijectors.LogitPreprocess((2,), alpha=0)
