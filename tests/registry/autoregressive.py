"""Registry entries for autoregressive and spline bijectors (issue 4)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import flowkit as fk


def _rng(key) -> np.random.Generator:
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())


def randomize(module, key, scale: float = 0.3):
    """Add ``scale``-sized Gaussian noise to every trainable leaf (cf. ``_random.randomize``).

    The noise comes from numpy, seeded by ``key``: drawing it with ``jax.random`` compiles
    a random-number kernel per leaf shape, which dominates the cost of small tests.
    """
    params, static = eqx.partition(module, fk.flows.trainable_filter(module))
    rng = _rng(key)

    def noisy(leaf):
        return leaf + scale * rng.standard_normal(leaf.shape).astype(leaf.dtype)

    return eqx.combine(jax.tree_util.tree_map(noisy, params), static)


def _normal(key, shape):
    return jnp.asarray(_rng(key).standard_normal(shape), float)


def _transformer(name: str, dim: int):
    if name == "affine":
        return fk.bijectors.AffineTransformer(dim)
    if name == "softplus":
        return fk.bijectors.SoftplusAffineTransformer()
    return fk.bijectors.RationalQuadraticSplineTransformer(num_bins=4, tail_bound=2.0)


def _autoregressive(cls, transformer: str, cond_dim=None, order="random", depth=1):
    """A layer on 4-vectors; inputs ~ N(0, 1) so some fall in the spline's tails (bound 2)."""

    def build(key):
        k_made, k_rand, k_cond = jax.random.split(key, 3)
        trans = _transformer(transformer, 4)
        made = fk.nn.MADE(
            k_made, 4, trans.num_params, width=8, depth=depth, order=order, cond_size=cond_dim
        )
        bij = randomize(cls(made, trans), k_rand)
        return bij, None if cond_dim is None else _normal(k_cond, (cond_dim,)), None

    return build


def _spline_coupling(key):
    k_init, k_rand, k_cond, k_x = jax.random.split(key, 4)
    bij = fk.spline_coupling(
        k_init, fk.bijectors.alternating_mask(5), num_bins=5, width=8, depth=1, cond_shape=(2,)
    )
    # Some entries beyond the tail bound (3), to cover the linear tails too.
    return randomize(bij, k_rand, scale=0.5), _normal(k_cond, (2,)), 2.0 * _normal(k_x, (5,))


def _embed(key):
    """Class-conditional: a conditional coupling fed a learned embedding of a one-hot label
    (the cheapest conditional layer: the embedding is what this entry checks)."""
    k_inner, k_rand, k_embed, k_label = jax.random.split(key, 4)
    inner = fk.affine_coupling(
        k_inner, fk.bijectors.half_mask(3), width=4, depth=1, cond_shape=(2,)
    )
    label = jax.nn.one_hot(int(_rng(k_label).integers(5)), 5)
    return fk.bijectors.EmbedCondition(k_embed, randomize(inner, k_rand), 5), label, None


# Every new class, both directions of the autoregressive machinery (MAF: sequential forward,
# IAF: sequential inverse), conditions and the spline transformer in coupling and
# autoregressive layers; kept few, as each entry costs seconds of compilation per dtype. The
# scan-stacked flows the factories build, IAF with splines and the softplus transformer are
# covered by tests/test_autoregressive.py (sampling against density).
ENTRIES = {
    "MaskedAutoregressive[spline, conditional]": _autoregressive(
        fk.MaskedAutoregressive, "spline", cond_dim=2
    ),
    "InverseAutoregressive[affine, conditional, depth 2]": _autoregressive(
        fk.InverseAutoregressive, "affine", cond_dim=3, depth=2
    ),
    "spline_coupling[conditional]": _spline_coupling,
    "EmbedCondition[one-hot label]": _embed,
}
