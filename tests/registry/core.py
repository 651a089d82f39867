"""Registry entries for the core bijectors (issue 3)."""

import distrax
import jax
import jax.numpy as jnp

import flowkit as fk

from ._random import positive_event, randomize, uniform_event


def _affine(key):
    k1, k2 = jax.random.split(key)
    loc = jax.random.normal(k1, (3,))
    scale = jnp.exp(0.5 * jax.random.normal(k2, (3,)))
    return fk.Affine(loc, scale), None, None


def _coupling(make, mask, cond_dim=None):
    def build(key):
        k_init, k_rand, k_cond = jax.random.split(key, 3)
        cond_shape = None if cond_dim is None else (cond_dim,)
        bij = randomize(make(k_init, mask, width=16, depth=2, cond_shape=cond_shape), k_rand)
        cond = None if cond_dim is None else jax.random.normal(k_cond, cond_shape)
        return bij, cond, None

    return build


def _generic_coupling(key):
    k_mlp, k_rand = jax.random.split(key)
    mask = fk.bijectors.checkerboard_mask(2, 2, 1)
    transformer = fk.bijectors.SoftplusAffineTransformer()
    mlp = fk.nn.MLP(k_mlp, 2, 2 * transformer.num_params, width=8)
    return randomize(fk.Coupling(mask, mlp, transformer), k_rand), None, None


def _mlp_coupling(key):
    k_init, k_rand, k_cond = jax.random.split(key, 3)
    transformer = fk.bijectors.SoftplusAffineTransformer()
    layer = fk.bijectors.mlp_coupling(
        k_init, fk.bijectors.half_mask(5), transformer, width=8, cond_shape=(2,)
    )
    return randomize(layer, k_rand), jax.random.normal(k_cond, (2,)), None


def _stack(key):
    k_init, k_rand = jax.random.split(key)

    def layer(k):
        return fk.affine_coupling(k, fk.bijectors.half_mask(4), width=8, depth=1)

    return randomize(fk.Stack.from_factory(k_init, layer, 3), k_rand), None, None


def _chain(key):
    k1, k2, k3 = jax.random.split(key, 3)
    coupling = randomize(fk.affine_coupling(k1, fk.bijectors.alternating_mask(4), width=8), k2)
    return (
        fk.Chain([coupling, fk.bijectors.random_permutation(k3, (4,)), fk.Tanh((4,))]),
        None,
        None,
    )


def _invert(key):
    k1, k2 = jax.random.split(key)
    coupling = randomize(fk.affine_coupling(k1, fk.bijectors.half_mask(4), width=8), k2)
    return fk.Invert(coupling), None, None


ENTRIES = {
    "Identity": lambda key: (fk.Identity((3,)), None, None),
    "Affine": _affine,
    "Rescale": lambda key: (fk.Rescale((3,), -1.0, 1.0), None, uniform_event(key, (3,))),
    "Rescale[glow]": lambda key: (fk.Rescale((2, 2, 1), -0.5, 0.5), None, None),
    "Scale": lambda key: (fk.Scale(0.5 * jax.random.normal(key, (3,))), None, None),
    "Exp": lambda key: (fk.Exp((3,)), None, None),
    "Sigmoid": lambda key: (fk.Sigmoid((3,)), None, None),
    "Logit": lambda key: (fk.Logit((3,)), None, uniform_event(key, (3,))),
    "Tanh": lambda key: (fk.Tanh((3,)), None, None),
    "LeakyReLU": lambda key: (fk.LeakyReLU(0.2, (3,)), None, None),
    "Softplus": lambda key: (fk.Softplus((3,)), None, None),
    "Permute": lambda key: (fk.bijectors.random_permutation(key, (2, 3)), None, None),
    "Reverse": lambda key: (fk.Reverse((5,)), None, None),
    "Chain": _chain,
    "Invert": _invert,
    "Stack": _stack,
    "Coupling": _generic_coupling,
    "mlp_coupling[softplus affine, conditional]": _mlp_coupling,
    "affine_coupling": _coupling(fk.affine_coupling, fk.bijectors.alternating_mask(5)),
    "affine_coupling[conditional]": _coupling(
        fk.affine_coupling, fk.bijectors.half_mask(4), cond_dim=3
    ),
    "additive_coupling": _coupling(fk.additive_coupling, fk.bijectors.half_mask(4)),
    "additive_coupling[conditional]": _coupling(
        fk.additive_coupling, fk.bijectors.half_mask(5), cond_dim=2
    ),
    "FromDistrax": lambda key: (fk.FromDistrax(distrax.Tanh(), (3,)), None, None),
    "Exp[positive inverse domain]": lambda key: (
        fk.Invert(fk.Exp((3,))),
        None,
        positive_event(key, (3,)),
    ),
}
