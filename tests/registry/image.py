"""Registry entries for the image bijectors (issue 5), on 4x4x2 and 8x8x1 images."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import flowkit as fk

from ._random import uniform_event


def randomize(module, key, scale: float = 0.3):
    """Like ``_random.randomize`` (Gaussian noise on every trainable leaf) but with numpy
    draws, so no sampler is compiled per leaf shape (conv-net entries stay cheap), and
    BatchNorm statistics (``eqx.nn.StateIndex``) are left alone: variances stay positive."""
    is_index = lambda node: isinstance(node, eqx.nn.StateIndex)  # noqa: E731
    spec = jax.tree_util.tree_map(
        lambda node: False if is_index(node) else node,
        fk.flows.trainable_filter(module),
        is_leaf=is_index,
    )
    params, static = eqx.partition(module, spec)
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1)))
    noisy = jax.tree_util.tree_map(
        lambda a: jnp.asarray(np.asarray(a) + scale * rng.standard_normal(a.shape), a.dtype),
        params,
    )
    return eqx.combine(noisy, static)


def _conv_coupling(mask, cond_dim=None):
    def build(key):
        k_init, k_rand, k_cond = jax.random.split(key, 3)
        cond_shape = None if cond_dim is None else (cond_dim,)
        layer = fk.bijectors.conv_affine_coupling(
            k_init, mask, width=4, depth=1, cond_shape=cond_shape
        )
        cond = None if cond_dim is None else jax.random.normal(k_cond, cond_shape)
        return randomize(layer, k_rand), cond, None

    return build


def _random(layer):
    def build(key):
        k_init, k_rand = jax.random.split(key)
        return randomize(layer(k_init), k_rand), None, None

    return build


def _batch_norm(key):
    """Inference mode, with random running statistics bound into the layer."""
    k_rand, k_mean, k_var = jax.random.split(key, 3)
    layer = randomize(fk.BatchNorm((4, 4, 2), inference=True), k_rand)
    stats = (jax.random.normal(k_mean, (2,)), jnp.exp(jax.random.normal(k_var, (2,))))
    index = eqx.nn.StateIndex(stats)
    return eqx.tree_at(lambda b: b.state_index, layer, index), None, None


def _multiscale(key):
    """Two scales on 8x8x1 (squeeze, ActNorm, 1x1 conv; then squeeze, ActNorm): the
    factor-out plumbing, with cheap layers."""
    k_conv, k_rand = jax.random.split(key)
    outer = fk.Squeeze((8, 8, 1))  # (4, 4, 4): two channels go on to the inner scale
    inner = fk.Squeeze((4, 4, 2))  # (2, 2, 8)
    shape = outer.out_shape
    model = fk.MultiScale(
        fk.Chain([outer, fk.ActNorm(shape), fk.InvertibleConv1x1(k_conv, shape)]),
        fk.MultiScale(fk.Chain([inner, fk.ActNorm(inner.out_shape)])),
    )
    return randomize(model, k_rand), None, None


def _split_prior(cond_dim=None):
    """Random (non-zero) conv weights: a fresh split_prior is the identity."""

    def build(key):
        k_init, k_rand, k_cond = jax.random.split(key, 3)
        cond_shape = None if cond_dim is None else (cond_dim,)
        layer = fk.bijectors.split_prior(k_init, (4, 4, 4), cond_shape=cond_shape)
        cond = None if cond_dim is None else jax.random.normal(k_cond, cond_shape)
        return randomize(layer, k_rand), cond, None

    return build


ENTRIES = {
    "Squeeze": lambda key: (fk.Squeeze((4, 4, 2)), None, None),
    "Squeeze[checkerboard]": lambda key: (fk.Squeeze((4, 4, 2), "checkerboard"), None, None),
    "ActNorm": _random(lambda k: fk.ActNorm((4, 4, 2))),
    "InvertibleConv1x1": _random(lambda k: fk.InvertibleConv1x1(k, (4, 4, 2))),
    "InvertibleConv1x1LU": _random(lambda k: fk.InvertibleConv1x1LU(k, (2, 2, 4))),
    "conv_affine_coupling[checkerboard]": _conv_coupling(fk.bijectors.checkerboard_mask(4, 4, 2)),
    "conv_affine_coupling[channel, conditional]": _conv_coupling(
        fk.bijectors.channel_mask(4, 4, 2), 3
    ),
    "BatchNorm[inference]": _batch_norm,
    "MultiScale": _multiscale,
    "split_prior": _split_prior(),
    "split_prior[conditional]": _split_prior(3),
    "LogitPreprocess": lambda key: (
        fk.bijectors.LogitPreprocess((4, 4, 2), alpha=0.05),
        None,
        uniform_event(key, (4, 4, 2), 0.01, 0.99),
    ),
}
