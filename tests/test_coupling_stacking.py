"""The coupling factories' two ways of alternating masks in a scan: (mask, ~mask) pairs, or
one coupling and a reversal of the vector per loop step (``stacking=``)."""

import jax
import jax.numpy as jnp
import pytest

import flowkit as fk
from flowkit.testing import check_bijector

from .registry._random import randomize


def _bijector(factory, stacking, dim, num_layers=2, **kwargs):
    flow = factory(jax.random.key(0), dim=dim, num_layers=num_layers, stacking=stacking, **kwargs)
    return randomize(flow.bijector, jax.random.key(1))


@pytest.mark.parametrize("mask", ["alternating", "half"])
@pytest.mark.parametrize("stacking", ["pairs", "reverse"])
def test_two_layers_transform_every_entry(stacking, mask):
    # Layer 2 moves the entries layer 1 kept, so after two layers every output depends on
    # some other input. Two couplings with the same mask would pass the kept entries
    # through untouched: rows of the identity in the Jacobian.
    bijector = _bijector(fk.realnvp, stacking, dim=6, mask=mask)
    x = jax.random.normal(jax.random.key(2), (6,))
    jacobian = jax.jacobian(bijector.forward)(x)
    off_diagonal = jacobian * (1 - jnp.eye(6))
    assert bool(jnp.all(jnp.any(off_diagonal != 0, axis=1))), jacobian


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [(fk.realnvp, {}), (fk.nice, {}), (fk.nsf, {"kind": "coupling", "num_bins": 4})],
)
@pytest.mark.parametrize("num_layers", [3, 4])
def test_reverse_stacking_passes_the_bijector_checks(factory, kwargs, num_layers):
    bijector = _bijector(factory, "reverse", dim=4, num_layers=num_layers, width=8, **kwargs)
    check_bijector(bijector, jax.random.key(3))


def test_auto_reverses_even_dims_and_pairs_odd_ones():
    def stacked_steps(dim):
        stack = fk.realnvp(jax.random.key(0), dim=dim, num_layers=4).bijector
        return stack.num_layers, [type(b).__name__ for b in stack.layers.layers]

    assert stacked_steps(4) == (4, ["Coupling", "Reverse"])
    assert stacked_steps(5) == (2, ["Coupling", "Coupling"])


def test_reverse_stacking_refuses_an_odd_dim():
    with pytest.raises(ValueError, match=r"realnvp: stacking='reverse' needs an even dim.*dim=5"):
        fk.realnvp(jax.random.key(0), dim=5, stacking="reverse")
    with pytest.raises(ValueError, match=r"nsf: stacking must be one of .*got 'flip'"):
        fk.nsf(jax.random.key(0), dim=4, stacking="flip")
