"""ActNorm data init through nested models, and the BatchNorm bijector's two modes."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk

from .registry.image import randomize

SHAPE = (4, 4, 2)


def _step(key):
    """ActNorm, LU 1x1 conv and a nonlinearity: a Glow step with a cheap stand-in for the
    coupling (the glow factory's own data init is exercised in test_image_flows)."""
    return fk.Chain(
        [fk.ActNorm(SHAPE), fk.InvertibleConv1x1LU(key, SHAPE), fk.LeakyReLU(0.5, SHAPE)]
    )


@eqx.filter_jit  # one compilation instead of one per initialisation op
def _nested_structure(key):
    """ActNorm, a scan-stacked pair of steps, and a two-scale MultiScale holding more."""
    k_stack, k_inner = jax.random.split(key)
    squeeze = fk.Squeeze(SHAPE)  # (2, 2, 8); 4 channels go on
    inner_shape = (2, 2, 4)
    inner = fk.MultiScale(
        fk.Chain(
            [
                fk.ActNorm(inner_shape),
                fk.Stack.from_factory(
                    k_inner,
                    lambda k: fk.Chain(
                        [fk.ActNorm(inner_shape), fk.InvertibleConv1x1(k, inner_shape)]
                    ),
                    2,
                ),
            ]
        )
    )
    model = fk.Chain(
        [
            fk.ActNorm(SHAPE),
            fk.Stack.from_factory(k_stack, _step, 2),
            fk.MultiScale(fk.Chain([squeeze, fk.ActNorm(squeeze.out_shape)]), inner),
        ]
    )
    return model


def _nested_model(key):
    return randomize(_nested_structure(key), key, scale=0.5)  # every layer moves the data


def _assert_standard(h):
    axes = tuple(range(h.ndim - 1))
    np.testing.assert_allclose(jnp.mean(h, axis=axes), 0.0, atol=1e-4)
    np.testing.assert_allclose(jnp.std(h, axis=axes), 1.0, atol=1e-3)


def _walk(model, h, outputs):
    """Forward through the nested test model by hand, collecting every ActNorm's output."""
    if isinstance(model, fk.ActNorm):
        h = jax.vmap(model.forward)(h)
        outputs.append(h)
        return h
    if isinstance(model, fk.Chain):
        for layer in model.layers:
            h = _walk(layer, h, outputs)
        return h
    if isinstance(model, fk.Stack):
        for i in range(model.num_layers):
            h = _walk(model.layer(i), h, outputs)
        return h
    if isinstance(model, fk.MultiScale):
        h = _walk(model.transform, h, outputs)
        if model.inner is None:
            return h
        kept, factored = model.split(h)
        kept = _walk(model.inner, kept, outputs)
        return jnp.concatenate([kept, factored], -1)
    return jax.vmap(model.forward)(h)


@eqx.filter_jit
def _actnorm_outputs(model, batch):
    outputs = []
    _walk(model, batch, outputs)
    return outputs


def test_data_init_standardises_every_actnorm_in_a_nested_flow(key):
    flow = fk.Flow(fk.Invert(_nested_model(key)), fk.standard_normal(SHAPE))
    batch = 3.0 + 2.0 * jax.random.normal(jax.random.key(1), (64,) + SHAPE)
    new = fk.data_init(flow, batch)
    outputs = _actnorm_outputs(new.bijector.bijector, batch)
    assert len(outputs) == 1 + 2 + 1 + 1 + 2  # chain, stack, scale 1, scale 2, its stack
    for h in outputs:
        _assert_standard(h)
    # Before init they were far from standard (the check has teeth).
    assert np.abs(np.asarray(_actnorm_outputs(flow.bijector.bijector, batch)[0].mean())) > 1
    # Stacked ActNorms were each fitted to their own input: their parameters differ.
    stacked = new.bijector.bijector.layers[1].layers.layers[0]
    assert np.abs(np.asarray(stacked.loc[0] - stacked.loc[1])).max() > 1e-2


@eqx.filter_jit
def _inverse_actnorm_outputs(model, h):
    outputs = []
    stack = model.layers[1]
    for i in reversed(range(stack.num_layers)):
        h = jax.vmap(fk.Chain(list(stack.layer(i).layers[1:])).inverse)(h)
        h = jax.vmap(stack.layer(i).layers[0].inverse)(h)
        outputs.append(h)
    outputs.append(jax.vmap(model.layers[0].inverse)(h))
    return outputs


def test_data_init_in_the_inverse_direction(key):
    # Without Invert the density pass runs the layers' inverses: those must standardise.
    model = eqx.filter_jit(
        lambda k: fk.Chain([fk.ActNorm(SHAPE), fk.Stack.from_factory(k, _step, 2)])
    )(key)
    flow = fk.Flow(randomize(model, jax.random.key(2), scale=0.5), fk.standard_normal(SHAPE))
    batch = 1.0 - 0.5 * jax.random.normal(jax.random.key(1), (64,) + SHAPE)
    new = fk.data_init(flow, batch)
    for h in _inverse_actnorm_outputs(new.bijector, batch):
        _assert_standard(h)


class _Opaque(fk.AbstractBijector):
    inner: fk.AbstractBijector
    shape: tuple = eqx.field(static=True, default=SHAPE)
    cond_shape: None = eqx.field(static=True, default=None)

    def forward_and_log_det(self, x, condition):
        return self.inner.forward_and_log_det(x)

    def inverse_and_log_det(self, y, condition):
        return self.inner.inverse_and_log_det(y)


def test_data_init_refuses_layers_it_cannot_see(key):
    model = fk.Chain([fk.Squeeze((8, 8, 1)), _Opaque(fk.ActNorm((4, 4, 4)), (4, 4, 4))])
    with pytest.raises(TypeError, match="_Opaque holds an ActNorm or BatchNorm"):
        fk.data_init(model, jnp.ones((2, 8, 8, 1)))
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, 8, 8, 1\)"):
        fk.data_init(model, jnp.ones((8, 8, 1)))


# --- BatchNorm --------------------------------------------------------------------------


def _batch_norm(key, inference=False):
    return randomize(fk.BatchNorm((3, 2, 2), inference=inference), key, scale=0.5)


def _moments(batch):
    return batch.mean(axis=(0, 1, 2)), batch.var(axis=(0, 1, 2))


def _with_stats(layer, stats):
    layer = eqx.tree_at(lambda b: b.state_index, layer, eqx.nn.StateIndex(stats))
    return fk.flows.batch_norm_inference(layer)


def test_batch_norm_training_log_det_against_the_whole_batch_jacobian(key):
    layer = _batch_norm(key)
    batch = 2.0 + 3.0 * jax.random.normal(jax.random.key(1), (5, 3, 2, 2))

    def train_map(xs):
        return jax.vmap(layer.forward_and_log_det, axis_name="batch")(xs)

    y, log_det = train_map(batch)
    # Training mode is the per-channel affine map at the batch's own (biased) statistics...
    frozen = _with_stats(layer, _moments(batch))
    y_frozen, ld_frozen = jax.vmap(frozen.forward_and_log_det)(batch)
    np.testing.assert_allclose(y, y_frozen, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_det, ld_frozen, rtol=1e-5, atol=1e-5)
    # ...whose whole-batch Jacobian (60 x 60) has log|det| equal to the sum of the log-dets.
    whole = jax.jacobian(lambda xs: jax.vmap(frozen.forward)(xs).ravel())(batch).reshape(60, 60)
    np.testing.assert_allclose(np.linalg.slogdet(whole)[1], log_det.sum(), rtol=1e-4)
    # Through the statistics the whole-batch map is singular: shifting one channel of every
    # event by the same amount changes nothing, so no other exact log-det exists.
    full = jax.jacobian(lambda xs: train_map(xs)[0].ravel())(batch).reshape(60, 60)
    shift = np.zeros((5, 3, 2, 2), np.float32)
    shift[..., 1] = 1.0
    np.testing.assert_allclose(full @ shift.ravel(), 0.0, atol=1e-4)
    assert np.abs(full).max() > 0.1


def test_batch_norm_modes_and_errors(key):
    layer = _batch_norm(key)
    x = jax.random.normal(key, (3, 2, 2))
    with pytest.raises(ValueError, match=r"training mode needs a batch: call it under jax.vmap"):
        layer.forward(x)
    with pytest.raises(ValueError, match="inverse in training mode is undefined"):
        jax.vmap(layer.inverse, axis_name="batch")(x[None])
    # A Flow maps its batch over the named axis, so log_prob works in training mode.
    flow = fk.Flow(fk.Invert(layer), fk.standard_normal((3, 2, 2)))
    batch = jax.random.normal(jax.random.key(1), (6, 3, 2, 2))
    y, ld = jax.vmap(layer.forward_and_log_det, axis_name="batch")(batch)
    want = flow.base.log_prob(y) + ld
    np.testing.assert_allclose(flow.log_prob(batch), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="holds no statistics"):
        eqx.nn.make_with_state(fk.BatchNorm)((3, 2, 2), inference=True)[0].forward(x)


@eqx.filter_jit
def _stacked_batch_norm_inputs(model, batch):
    first, stack = model.layers
    h = jax.vmap(first.forward, axis_name="batch")(batch)
    inputs = []
    for i in range(stack.num_layers):
        h = jax.vmap(stack.layer(i).layers[0].forward)(h)
        inputs.append(h)
        h = jax.vmap(stack.layer(i).layers[1].forward, axis_name="batch")(h)
    return inputs


def test_running_statistics_through_a_stack_and_back_to_inference(key):
    shape = (3, 2, 2)

    def layer(k):
        mix = fk.Chain([fk.InvertibleConv1x1LU(k, shape), fk.LeakyReLU(0.5, shape)])
        return fk.Chain([mix, fk.BatchNorm(shape, momentum=0.75)])

    model = randomize(
        eqx.filter_jit(
            lambda k: fk.Chain(
                [fk.BatchNorm(shape, momentum=0.5), fk.Stack.from_factory(k, layer, 2)]
            )
        )(key),
        jax.random.key(3),
        scale=0.3,
    )
    model, state = eqx.nn.make_with_state(lambda: model)()
    first, stack = model.layers
    old_mean, old_var = state.get(first.state_index)
    old_stacked_mean, _ = state.get(stack.layers.layers[1].state_index)
    batch = 1.0 + 2.0 * jax.random.normal(jax.random.key(1), (16,) + shape)
    new_state = eqx.filter_jit(fk.flows.update_batch_norm_state)(model, state, batch)

    # By hand: the first layer's input is the batch; the stacked ones see earlier outputs.
    mean, var = _moments(batch)
    got_mean, got_var = new_state.get(first.state_index)
    np.testing.assert_allclose(got_mean, 0.5 * old_mean + 0.5 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_var, 0.5 * old_var + 0.5 * var, rtol=1e-5)
    stacked_mean, _ = new_state.get(stack.layers.layers[1].state_index)
    for i, h in enumerate(_stacked_batch_norm_inputs(model, batch)):
        want = 0.75 * old_stacked_mean[i] + 0.25 * _moments(h)[0]
        np.testing.assert_allclose(stacked_mean[i], want, rtol=1e-4, atol=1e-5)

    # Inference mode with those statistics: invertible, and the flow can sample.
    flow = fk.Flow(
        fk.Invert(fk.flows.batch_norm_inference(model, new_state)), fk.standard_normal(shape)
    )
    x, log_p = flow.sample_and_log_prob(jax.random.key(4), (3,))
    np.testing.assert_allclose(flow.log_prob(x), log_p, rtol=1e-4, atol=1e-4)
    inference_first = flow.bijector.bijector.layers[0]
    assert inference_first.inference
    np.testing.assert_allclose(inference_first.running_statistics()[0], got_mean)
