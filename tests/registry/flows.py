"""The flow registry: every factory (and a hand-composed flow) with random parameters.

An entry is ``name -> build(key) -> (flow, condition_or_None)``; ``name`` is the factory
(or ``Flow``), optionally followed by ``[variant]``. Sizes are tiny: ``check_flow`` takes a
dense Jacobian of each flow and compiles every property once per entry.
"""

import distrax
import jax
import jax.numpy as jnp

import flowkit as fk

from .image import randomize


def _vector(factory, cond_dim=None, **sizes):
    def build(key):
        k_init, k_rand, k_cond = jax.random.split(key, 3)
        flow = factory(k_init, dim=3, cond_shape=cond_dim, **sizes)
        condition = None if cond_dim is None else jax.random.normal(k_cond, (cond_dim,))
        return randomize(flow, k_rand), condition

    return build


def _image(factory, cond_dim=None, **sizes):
    def build(key):
        k_init, k_rand, k_cond = jax.random.split(key, 3)
        cond_shape = None if cond_dim is None else (cond_dim,)
        flow = factory(k_init, cond_shape=cond_shape, **sizes)
        condition = None if cond_dim is None else jax.random.normal(k_cond, cond_shape)
        return randomize(flow, k_rand, scale=0.1), condition

    return build


def _hand_composed(cond_dim=None):
    """``fk.Flow(fk.Chain([...]), base)`` written by hand, as a user would (a spline coupling
    in the unconditional one, an affine one in the conditional one)."""

    def build(key):
        k1, k2, k3, k_rand, k_cond = jax.random.split(key, 5)
        cond_shape = None if cond_dim is None else (cond_dim,)
        if cond_dim is None:
            second = fk.spline_coupling(k3, fk.bijectors.alternating_mask(4), width=8, num_bins=4)
        else:
            second = fk.affine_coupling(
                k3, fk.bijectors.alternating_mask(4), width=8, cond_shape=cond_shape
            )
        chain = fk.Chain(
            [
                fk.affine_coupling(
                    k1, fk.bijectors.half_mask(4), width=8, depth=1, cond_shape=cond_shape
                ),
                fk.bijectors.random_permutation(k2, (4,)),
                second,
                fk.Affine(jnp.zeros(4), jnp.ones(4)),
            ]
        )
        base = distrax.MultivariateNormalDiag(jnp.zeros(4), jnp.ones(4))
        condition = None if cond_dim is None else jax.random.normal(k_cond, cond_shape)
        return randomize(fk.Flow(chain, base), k_rand), condition

    return build


SMALL = dict(num_layers=2, width=8, depth=1)
IMAGE = dict(image_shape=(4, 4, 1), num_scales=2, width=4, depth=1)
TARFLOW = dict(image_shape=(4, 4, 1), patch_size=2, num_blocks=2, layers_per_block=1, width=8)

ENTRIES = {
    "nice": _vector(fk.nice, **SMALL),
    "realnvp": _vector(fk.realnvp, **SMALL),
    "realnvp[conditional]": _vector(fk.realnvp, cond_dim=2, **SMALL),
    "maf": _vector(fk.maf, **SMALL),
    "maf[conditional]": _vector(fk.maf, cond_dim=2, **SMALL),
    "iaf": _vector(fk.iaf, **SMALL),
    "nsf": _vector(fk.nsf, num_bins=4, **SMALL),
    "nsf[autoregressive, conditional]": _vector(
        fk.nsf, cond_dim=2, kind="autoregressive", num_bins=4, **SMALL
    ),
    "realnvp_multiscale": _image(
        fk.realnvp_multiscale, layers_per_scale=1, final_layers=1, **IMAGE
    ),
    "glow": _image(fk.glow, layers_per_scale=1, **IMAGE),
    "glow[one scale, conditional]": _image(
        fk.glow, cond_dim=2, image_shape=(2, 2, 1), num_scales=1, layers_per_scale=1, width=4
    ),
    "tarflow": _image(fk.tarflow, heads=2, **TARFLOW),
    "tarflow[conditional]": _image(fk.tarflow, cond_dim=3, heads=2, **TARFLOW),
    "Flow[hand-composed Chain]": _hand_composed(),
    "Flow[hand-composed Chain, conditional]": _hand_composed(cond_dim=2),
}
"""Every flow factory in ``flowkit.flows`` must appear here (tests/test_check_flow.py)."""
