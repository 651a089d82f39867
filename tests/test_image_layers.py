"""Image layers: squeeze layouts, 1x1 convolutions, conv couplings, logit preprocessing."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk

from .registry.image import randomize


def test_squeeze_orderings():
    x = jnp.arange(16.0).reshape(4, 4, 1)  # pixel (r, c) holds 4 r + c
    block = fk.Squeeze((4, 4, 1)).forward(x)[0, 0]
    np.testing.assert_array_equal(block, [0, 1, 4, 5])  # (0,0) (0,1) (1,0) (1,1)
    ordered = fk.Squeeze((4, 4, 1), "checkerboard").forward(x)
    np.testing.assert_array_equal(ordered[0, 0], [0, 5, 1, 4])  # (0,0) (1,1) (0,1) (1,0)
    np.testing.assert_array_equal(ordered[1, 1], [10, 15, 11, 14])


def test_checkerboard_squeeze_turns_a_checkerboard_into_a_channel_split():
    board = fk.bijectors.checkerboard_mask(4, 6, 2).astype(np.float32)
    squeezed = fk.Squeeze((4, 6, 2), "checkerboard").forward(board)
    np.testing.assert_array_equal(squeezed, fk.bijectors.channel_mask(2, 3, 8).astype(np.float32))


@pytest.mark.parametrize(
    "shape, kwargs, message",
    [
        ((5, 4, 1), {}, r"height and width must be even.*got image shape \(5, 4, 1\)"),
        ((4, 4), {}, r"expected one image of shape \(H, W, C\).*got shape \(4, 4\)"),
    ],
)
def test_squeeze_errors(shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fk.Squeeze(shape, **kwargs)


def test_conv1x1_starts_orthogonal(key):
    for layer in (
        fk.InvertibleConv1x1(key, (3, 3, 5)),
        fk.InvertibleConv1x1LU(key, (3, 3, 5)),
    ):
        w = layer.weight if isinstance(layer, fk.InvertibleConv1x1) else layer.weight()
        np.testing.assert_allclose(w @ w.T, np.eye(5), atol=1e-5)
        assert abs(float(layer.forward_and_log_det(jnp.ones((3, 3, 5)))[1])) < 1e-4


def test_lu_log_det_is_the_log_det_of_its_weight(key):
    layer = randomize(fk.InvertibleConv1x1LU(key, (2, 3, 6)), jax.random.key(1), scale=0.5)
    w = np.asarray(layer.weight(), np.float64)
    _, log_det = layer.forward_and_log_det(jnp.zeros((2, 3, 6)))
    np.testing.assert_allclose(log_det, 6 * np.linalg.slogdet(w)[1], rtol=1e-4, atol=1e-4)
    # The fixed parts are integer leaves, so they are never trained.
    assert layer.sign.dtype == jnp.int32 and layer.permutation.dtype == jnp.int32


@eqx.filter_jit
def _forward(layer, x, condition=None):
    return layer.forward_and_log_det(x, condition)


def _coupling(mask, key, cond_shape=None):
    return fk.bijectors.conv_affine_coupling(key, mask, width=4, depth=1, cond_shape=cond_shape)


def test_conv_coupling_is_identity_when_fresh_and_keeps_masked_entries(key):
    mask = fk.bijectors.checkerboard_mask(4, 4, 2)
    x = jax.random.normal(key, (4, 4, 2))
    y, log_det = _forward(_coupling(mask, key), x)
    np.testing.assert_array_equal(y, x)
    assert float(log_det) == 0.0
    for m in (mask, fk.bijectors.channel_mask(4, 4, 2, parity=1)):
        layer = randomize(_coupling(m, key), jax.random.key(1))
        y = _forward(layer, x)[0]
        np.testing.assert_array_equal(y[m], x[m])
        assert np.abs(np.asarray(y - x)[~m]).min() > 0


def test_conv_coupling_uses_its_condition(key):
    layer = randomize(_coupling(fk.bijectors.channel_mask(4, 4, 2), key, (3,)), jax.random.key(1))
    x = jax.random.normal(key, (4, 4, 2))
    y0 = _forward(layer, x, jnp.zeros(3))[0]
    y1 = _forward(layer, x, jnp.array([1.0, 0.0, 0.0]))[0]
    assert np.abs(np.asarray(y0 - y1)).max() > 1e-3


def test_conv_coupling_rejects_trivial_masks(key):
    with pytest.raises(ValueError, match="conv_affine_coupling: the mask must keep some entries"):
        _coupling(np.ones((4, 4, 1), bool), key)
    with pytest.raises(ValueError, match=r"expected one image of shape \(H, W, C\)"):
        _coupling(np.ones(4, bool), key)


def test_logit_preprocess_log_det_matches_formula():
    x = jnp.array([[[0.0], [0.5]], [[1.0], [0.25]]])
    alpha = 0.1
    y, log_det = fk.bijectors.LogitPreprocess((2, 2, 1), alpha).forward_and_log_det(x)
    p = alpha + (1 - 2 * alpha) * np.asarray(x, np.float64)
    np.testing.assert_allclose(y, np.log(p / (1 - p)), rtol=1e-5)
    want = np.sum(np.log(1 - 2 * alpha) - np.log(p) - np.log1p(-p))
    np.testing.assert_allclose(log_det, want, rtol=1e-5)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 0.5\).*got 0.5"):
        fk.bijectors.LogitPreprocess((2, 2, 1), 0.5)


def test_multiscale_rejects_mismatched_inner():
    with pytest.raises(ValueError, match=r"inner must map the kept half \(2, 2, 2\)"):
        fk.MultiScale(fk.Squeeze((4, 4, 1)), fk.Identity((2, 2, 4)))
