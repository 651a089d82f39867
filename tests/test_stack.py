"""A scan-stacked Stack equals the same layers unrolled in a Chain."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk

from .registry._random import randomize


def test_stack_equals_unrolled_chain(key):
    def layer(k):
        return fk.Chain(
            [
                fk.affine_coupling(k, fk.bijectors.half_mask(4), width=8),
                fk.bijectors.random_permutation(k, (4,)),
            ]
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

    dense = fk.Stack.from_factory(
        key, lambda k: fk.affine_coupling(k, fk.bijectors.half_mask(4)), 2
    )
    image = fk.glow(key, image_shape=(4, 4, 1), num_scales=1, layers_per_scale=2, width=4)
    stacks = [
        n
        for n in jax.tree_util.tree_leaves(image, is_leaf=lambda n: isinstance(n, fk.Stack))
        if isinstance(n, fk.Stack)
    ]
    assert len(stacks) == 1 and stacks[0].unroll == dense.unroll == "auto"
    conv_layers = stacks[0].layers
    assert resolve_unroll("auto", conv_layers, 2, "cpu") is True
    assert resolve_unroll("auto", conv_layers, 8, "cpu") is True
    assert resolve_unroll("auto", conv_layers, 9, "cpu") == 1  # deeper: compile stays flat
    assert resolve_unroll("auto", conv_layers, 2, "gpu") == 1
    assert resolve_unroll("auto", dense.layers, 2, "cpu") == 1
    assert resolve_unroll(3, conv_layers, 2, "cpu") == 3
    assert dense.pieces()[0].unroll == 1
    assert stacks[0].pieces()[0].unroll == (jax.default_backend() == "cpu" or 1)


def _stacks(model) -> list:
    is_stack = lambda n: isinstance(n, fk.Stack)  # noqa: E731
    return [n for n in jax.tree_util.tree_leaves(model, is_leaf=is_stack) if is_stack(n)]


def test_with_unroll_changes_the_loop_not_the_map(key):
    flow = randomize(fk.realnvp(key, dim=4, num_layers=6), jax.random.key(2))
    x = jax.random.normal(jax.random.key(1), (5, 4))
    for unroll in (True, 2, "auto"):
        other = fk.with_unroll(flow, unroll)
        assert [s.unroll for s in _stacks(other)] == [unroll]
        assert jnp.allclose(other.log_prob(x), flow.log_prob(x), atol=1e-5)
    with pytest.raises(ValueError, match='positive int .* True .* or "auto"; got 0'):
        fk.with_unroll(flow, 0)


def test_a_fitted_flow_and_the_cli_model_keep_unroll(key):
    from flowkit.cli._models import build_model

    flow = fk.realnvp(key, dim=2, num_layers=4, width=8)
    data = fk.two_moons(key, 64)
    fitted, _ = fk.fit(
        key, fk.with_unroll(flow, True), data, stopping=fk.Stopping(max_steps=1),
        batch_size=32, progress=False,
    )  # fmt: skip
    assert [s.unroll for s in _stacks(fitted)] == [True]
    model = build_model(key, "glow", (4, 4, 1), width=4, num_layers=2, unroll=3)
    assert [s.unroll for s in _stacks(model)] == [3, 3]  # one stack per scale
