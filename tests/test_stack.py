"""A scan-stacked Stack equals the same layers unrolled in a Chain."""

import jax
import numpy as np

import flowkit as fk

from .registry._random import randomize


def test_stack_equals_unrolled_chain(key):
    def layer(k):
        return fk.Chain(
            [fk.AffineCoupling(k, fk.half_mask(4), width=8), fk.random_permutation(k, (4,))]
        )

    stack = randomize(fk.Stack.from_factory(key, layer, 4), jax.random.key(1))
    chain = fk.Chain([stack.layer(i) for i in range(4)])
    x = jax.random.normal(key, (4,))
    y, ld = stack.forward_and_log_det(x)
    y_chain, ld_chain = chain.forward_and_log_det(x)
    np.testing.assert_allclose(y, y_chain, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ld, ld_chain, rtol=1e-5, atol=1e-6)
    # Each stacked layer drew its own permutation.
    perms = {tuple(np.asarray(stack.layer(i).layers[1].permutation)) for i in range(4)}
    assert len(perms) > 1


def test_odd_layer_count(key):
    flow = fk.realnvp(key, dim=4, num_layers=5)
    assert isinstance(flow.bijector, fk.Chain)
    assert flow.bijector.layers[0].num_layers == 2


def test_auto_unroll_resolves_per_backend_and_layer_kind(key):
    from flowkit.bijectors._stack import resolve_unroll

    dense = fk.Stack.from_factory(key, lambda k: fk.AffineCoupling(k, fk.half_mask(4)), 2)
    image = fk.glow(key, image_shape=(4, 4, 1), num_scales=1, layers_per_scale=2, width=4)
    stacks = [
        n
        for n in jax.tree_util.tree_leaves(image, is_leaf=lambda n: isinstance(n, fk.Stack))
        if isinstance(n, fk.Stack)
    ]
    assert len(stacks) == 1 and stacks[0].unroll == dense.unroll == "auto"
    conv_layers = stacks[0].layers
    assert resolve_unroll("auto", conv_layers, "cpu") is True
    assert resolve_unroll("auto", conv_layers, "gpu") == 1
    assert resolve_unroll("auto", dense.layers, "cpu") == 1
    assert resolve_unroll(3, conv_layers, "cpu") == 3
    assert dense.pieces()[0].unroll == 1
    assert stacks[0].pieces()[0].unroll == (jax.default_backend() == "cpu" or 1)
