"""Every flow factory (and a hand-composed flow) passes check_flow on random parameters, in
float32 and float64; check_flow fails on a flow whose log-determinant is wrong."""

import inspect
import zlib

import distrax
import jax
import jax.numpy as jnp
import pytest

import flowkit as fk
import flowkit.flows
from flowkit.testing import check_flow

from .registry.flows import ENTRIES

# Compiling is most of this file's time, so float64 runs one entry of each family (coupling,
# conditional coupling, autoregressive, spline, hand-composed): the layers themselves are all
# checked in float64 by tests/test_conformance.py.
FLOAT64 = ["Flow[hand-composed Chain]", "maf", "nsf", "realnvp[conditional]"]


def _check(name):
    # A stable seed per entry (str hash() is salted per process).
    key = jax.random.key(zlib.crc32(name.encode()))
    flow, condition = ENTRIES[name](key)
    check_flow(flow, jax.random.fold_in(key, 1), condition)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_flow_conforms_in_float32(name):
    _check(name)


@pytest.mark.parametrize("name", FLOAT64)
def test_flow_conforms_in_float64(name):
    with jax.enable_x64(True):
        _check(name)


def _factories() -> set[str]:
    """Public functions of flowkit.flows that build a Flow from a key (not flow wrappers)."""
    found = set()
    for name, obj in vars(flowkit.flows).items():
        if inspect.isfunction(obj) and not name.startswith("_"):
            signature = inspect.signature(obj)
            if signature.return_annotation in (fk.Flow, "Flow") and "key" in signature.parameters:
                found.add(name)
    return found


def test_registry_covers_every_factory():
    factories = _factories()
    assert {"realnvp", "glow", "tarflow"} <= factories  # the scan above finds them
    missing = factories - {name.split("[")[0] for name in ENTRIES}
    assert not missing, f"flow factories missing from tests/registry/flows.py: {sorted(missing)}"


def _flow_with_log_det_off_by(offset: float, key) -> fk.Flow:
    """A coupling then ``y = 2 x`` whose reported log-det is ``log 2 + offset`` per entry."""

    def log_det(v):
        return jnp.full_like(v, jnp.log(2.0) + offset)

    doubling = distrax.Lambda(
        forward=lambda v: 2 * v,
        inverse=lambda v: v / 2,
        forward_log_det_jacobian=log_det,
        inverse_log_det_jacobian=lambda v: -log_det(v),
        event_ndims_in=0,
    )
    coupling = fk.affine_coupling(key, fk.bijectors.half_mask(2), width=4, depth=1)
    return fk.Flow(fk.Chain([coupling, fk.FromDistrax(doubling, (2,))]), fk.standard_normal((2,)))


def test_check_flow_passes_the_correct_log_det(key):
    check_flow(_flow_with_log_det_off_by(0.0, key), key)


def test_check_flow_fails_on_a_log_det_off_by_a_constant(key):
    with pytest.raises(AssertionError, match=r"log_prob == base log_prob \+ log\|det jacobian\|"):
        check_flow(_flow_with_log_det_off_by(0.1, key), key)


def test_check_flow_draws_a_condition_for_conditional_flows(key):
    flow = fk.realnvp(key, dim=2, num_layers=1, width=4, depth=1, cond_shape=2)
    check_flow(flow, key)  # no condition given: a random one is drawn
    with pytest.raises(ValueError, match=r"expected one condition of shape \(2,\)"):
        check_flow(flow, key, jnp.zeros((3, 2)))


def test_check_flow_rejects_a_condition_for_an_unconditional_flow(key):
    flow = fk.realnvp(key, dim=2, num_layers=1, width=4, depth=1)
    with pytest.raises(ValueError, match="the flow is unconditional but a condition was given"):
        check_flow(flow, key, jnp.zeros(2))


def test_check_flow_rejects_x_of_the_wrong_shape(key):
    flow = fk.realnvp(key, dim=2, num_layers=1, width=4, depth=1)
    with pytest.raises(ValueError, match=r"expected x of shape \(3, 2\).*got \(3, 4\)"):
        check_flow(flow, key, x=jnp.zeros((3, 4)))
