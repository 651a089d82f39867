"""Registry entries for autoregressive and spline bijectors (issue 4)."""

import equinox as eqx
import jax
import numpy as np

import flowkit as fk


def randomize(module, key, scale: float = 0.3):
    """Add ``scale``-sized Gaussian noise to every trainable leaf (cf. ``_random.randomize``).

    The noise comes from numpy, seeded by ``key``: drawing it with ``jax.random`` compiles
    a random-number kernel per leaf shape, which dominates the cost of small tests.
    """
    params, static = eqx.partition(module, fk.trainable_filter(module))
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())

    def noisy(leaf):
        noise = rng.standard_normal(leaf.shape).astype(leaf.dtype)
        return leaf + scale * noise

    return eqx.combine(jax.tree_util.tree_map(noisy, params), static)


def _transformer(name: str, dim: int):
    if name == "affine":
        return fk.AffineTransformer(dim)
    if name == "softplus":
        return fk.SoftplusAffineTransformer()
    return fk.RationalQuadraticSplineTransformer(num_bins=4, tail_bound=2.0)


def _autoregressive(cls, transformer: str, cond_dim: int | None = None, order="random"):
    def build(key):
        k_made, k_rand, k_cond = jax.random.split(key, 3)
        trans = _transformer(transformer, 4)
        made = fk.MADE(
            4, trans.num_params, width=12, depth=2, order=order, cond_size=cond_dim, key=k_made
        )
        bij = randomize(cls(made, trans), k_rand)
        cond = None if cond_dim is None else jax.random.normal(k_cond, (cond_dim,))
        return bij, cond, None

    return build


def _spline_coupling(cond_dim: int | None = None):
    def build(key):
        k_init, k_rand, k_cond, k_x = jax.random.split(key, 4)
        cond_shape = None if cond_dim is None else (cond_dim,)
        bij = fk.SplineCoupling(
            fk.alternating_mask(5), key=k_init, num_bins=5, width=12, cond_shape=cond_shape
        )
        bij = randomize(bij, k_rand, scale=0.5)
        cond = None if cond_dim is None else jax.random.normal(k_cond, cond_shape)
        # Some entries beyond the tail bound, to cover the linear tails too.
        return bij, cond, 2.0 * jax.random.normal(k_x, (5,))

    return build


def _maf_stack(key):
    """The layer stack `flowkit.maf` builds: scan-stacked (MAF, random permutation) pairs."""
    k_flow, k_rand = jax.random.split(key)
    flow = fk.maf(key=k_flow, dim=3, num_layers=3, width=8, permutation="random")
    return randomize(flow.bijector, k_rand), None, None


def _embed(key):
    """Class-conditional: a conditional MAF fed a learned embedding of a one-hot label."""
    k_inner, k_embed, k_label = jax.random.split(key, 3)
    inner, _, _ = _autoregressive(fk.MaskedAutoregressive, "affine", cond_dim=2)(k_inner)
    label = jax.nn.one_hot(jax.random.randint(k_label, (), 0, 5), 5)
    return fk.EmbedCondition(inner, 5, key=k_embed), label, None


_BUILDERS = {
    "MaskedAutoregressive[affine]": _autoregressive(fk.MaskedAutoregressive, "affine"),
    "MaskedAutoregressive[softplus, conditional]": _autoregressive(
        fk.MaskedAutoregressive, "softplus", cond_dim=3, order="reversed"
    ),
    "MaskedAutoregressive[spline, conditional]": _autoregressive(
        fk.MaskedAutoregressive, "spline", cond_dim=2
    ),
    "MaskedAutoregressive[stacked with permutations]": _maf_stack,
    "InverseAutoregressive[affine, conditional]": _autoregressive(
        fk.InverseAutoregressive, "affine", cond_dim=3
    ),
    "InverseAutoregressive[spline]": _autoregressive(fk.InverseAutoregressive, "spline"),
    "SplineCoupling": _spline_coupling(),
    "SplineCoupling[conditional]": _spline_coupling(cond_dim=2),
    "EmbedCondition": _embed,
}

# Each entry is built under one jit: one compilation instead of one per eager init op.
ENTRIES = dict(_BUILDERS)
