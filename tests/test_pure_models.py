"""Flows are pure pytrees: arrays and structure, nothing about how they were built."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import flowkit as fk
from tests.registry._random import randomize


def test_five_seeds_one_treedef_one_compile():
    flows = [
        randomize(
            fk.realnvp(jax.random.key(seed), dim=3, num_layers=2, width=8), jax.random.key(seed)
        )
        for seed in range(5)
    ]
    treedefs = {jax.tree_util.tree_structure(f) for f in flows}
    assert len(treedefs) == 1
    traces = []

    @eqx.filter_jit
    def nll(flow, x):
        traces.append(None)  # runs once per trace, i.e. once per compile
        return -flow.log_prob(x).mean()

    x = jnp.ones((4, 3))
    values = [float(nll(f, x)) for f in flows]
    assert len(traces) == 1
    assert len(set(values)) == 5  # different parameters, one program


def test_tree_map_over_two_flows_averages_them():
    a, b = (fk.realnvp(jax.random.key(s), dim=3, num_layers=2, width=8) for s in (0, 1))
    mean = jax.tree.map(lambda u, v: (u + v) / 2, eqx.filter(a, eqx.is_inexact_array),
                        eqx.filter(b, eqx.is_inexact_array))  # fmt: skip
    merged = eqx.combine(mean, a)
    wa = a.bijector.layers.layers[0].conditioner.layers[0].weight
    wb = b.bijector.layers.layers[0].conditioner.layers[0].weight
    wm = merged.bijector.layers.layers[0].conditioner.layers[0].weight
    np.testing.assert_allclose(wm, (wa + wb) / 2)
    assert np.isfinite(merged.log_prob(jnp.zeros((2, 3)))).all()
