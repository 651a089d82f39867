"""Random (not identity) parameters for registry entries."""

import equinox as eqx
import jax
import jax.numpy as jnp

import flowkit as fk


def randomize(module, key, scale: float = 0.3):
    """Add ``scale``-sized Gaussian noise to every floating-point leaf of ``module``.

    Fresh couplings are the identity (zero last layer); this moves them away from it so the
    conformance checks see a realistic map. A flow's frozen base is left alone.
    """
    params, static = eqx.partition(module, fk.flows.trainable_filter(module))
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, max(len(leaves), 1))
    leaves = [
        leaf + scale * jax.random.normal(k, leaf.shape, leaf.dtype)
        for leaf, k in zip(leaves, keys, strict=False)
    ]
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static)


def uniform_event(key, shape, low=0.05, high=0.95):
    """An event inside (low, high), for bijectors defined on the unit interval."""
    return jax.random.uniform(key, shape, minval=low, maxval=high)


def positive_event(key, shape):
    """An event of positive entries, for bijectors defined on (0, inf)."""
    return jnp.exp(jax.random.normal(key, shape))
