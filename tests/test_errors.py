"""Bad input gets an error that names what was expected and what came."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk


@pytest.fixture
def coupling(key):
    return fk.affine_coupling(key, fk.bijectors.half_mask(4), width=8)


@pytest.fixture
def conditional(key):
    return fk.affine_coupling(key, fk.bijectors.half_mask(4), width=8, cond_shape=(3,))


def test_wrong_shape(coupling):
    with pytest.raises(
        ValueError, match=r"expected x of shape \(4,\) \(one event\); got shape \(2, 4\)"
    ):
        coupling.forward(jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"expected y of shape \(4,\).*got shape \(3,\)"):
        coupling.inverse(jnp.zeros(3))


def test_integer_dtype(coupling):
    with pytest.raises(TypeError, match="expected a floating-point array for x; got dtype int32"):
        coupling.forward(jnp.zeros(4, jnp.int32))


def test_missing_condition(conditional):
    with pytest.raises(ValueError, match=r"expected a condition of shape \(3,\); got None"):
        conditional.forward(jnp.zeros(4))


def test_wrong_condition_shape(conditional):
    with pytest.raises(ValueError, match=r"expected condition of shape \(3,\).*got shape \(2,\)"):
        conditional.forward(jnp.zeros(4), jnp.zeros(2))


def test_unexpected_condition(coupling):
    with pytest.raises(ValueError, match="unconditional .* but got a condition of shape"):
        coupling.forward(jnp.zeros(4), jnp.zeros(3))


def test_chain_shape_mismatch(key):
    with pytest.raises(
        ValueError,
        match=r"layer 0 \(Tanh\) outputs shape \(3,\) but layer 1 "
        r"\(Exp\) expects \(4,\)",
    ):
        fk.Chain([fk.Tanh((3,)), fk.Exp((4,))])


def test_chain_condition_mismatch(key):
    a = fk.affine_coupling(key, fk.bijectors.half_mask(4), cond_shape=(2,))
    b = fk.affine_coupling(key, fk.bijectors.half_mask(4), cond_shape=(3,))
    with pytest.raises(ValueError, match=r"same condition shape; got \[\(2,\), \(3,\)\]"):
        fk.Chain([a, b])


def test_bad_permutation():
    with pytest.raises(ValueError, match="expected a permutation of 0..n-1"):
        fk.Permute(np.array([0, 0, 1]))


def test_affine_scale_positive():
    with pytest.raises(ValueError, match="scale must be positive"):
        fk.Affine(0.0, -1.0)


def test_mask_must_split():
    with pytest.raises(ValueError, match="mask must keep some entries and transform others"):
        fk.affine_coupling(jax.random.key(0), np.ones(4, bool))


def test_unknown_base(key):  # the string options' errors: tests/test_option_literals.py
    with pytest.raises(ValueError, match=r"Unknown base 'cauchy'; expected one of"):
        fk.realnvp(key, dim=4, base="cauchy")


def test_flow_errors(key):
    flow = fk.realnvp(key, dim=3, num_layers=2)
    with pytest.raises(
        ValueError,
        match=r"trailing dimensions are the event shape \(3,\); "
        r"got shape \(5, 2\)",
    ):
        flow.log_prob(jnp.zeros((5, 2)))
    with pytest.raises(ValueError, match="this flow is unconditional"):
        flow.log_prob(jnp.zeros(3), condition=jnp.zeros(2))
    with pytest.raises(ValueError, match=r"base distribution's event shape \(2,\) must equal"):
        fk.Flow(flow.bijector, fk.standard_normal((2,)))


def test_conditional_flow_errors(key):
    flow = fk.realnvp(key, dim=3, num_layers=2, cond_shape=2)
    with pytest.raises(ValueError, match=r"this flow is conditional; pass condition= of shape"):
        flow.log_prob(jnp.zeros((4, 3)))
    with pytest.raises(
        ValueError,
        match=r"Flow.log_prob: expected condition of shape \(\*batch, 2\) \(cond_shape "
        r"\(2,\) with any leading batch dimensions\); got \(4, 3\)",
    ):
        flow.log_prob(jnp.zeros((4, 3)), condition=jnp.zeros((4, 3)))


def test_small_dim(key):
    with pytest.raises(ValueError, match="need dim >= 2"):
        fk.realnvp(key, dim=1)
