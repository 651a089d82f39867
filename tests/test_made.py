"""MADE: the Jacobian of its outputs has exactly the autoregressive zero pattern."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk

DIM, PARAMS, COND = 5, 3, 2


def _made(key, order, cond_size=None, activation=jnp.tanh, depth=3):
    return fk.nn.MADE(
        key,
        DIM,
        PARAMS,
        width=16,  # >= DIM - 1, so every allowed connection has a path
        depth=depth,
        order=order,
        activation=activation,
        cond_size=cond_size,
        zero_init_output=False,  # random weights everywhere
    )


@eqx.filter_jit  # one compilation shared by every order (the MADEs differ only in arrays)
def _jacobians(made, x, cond):
    return jax.jacobian(made)(x, cond), jax.jacobian(made, argnums=1)(x, cond)


def _allowed(ranks) -> np.ndarray:
    """allowed[i, j]: output dimension i may depend on input j (j earlier in the order)."""
    ranks = np.asarray(ranks)
    return ranks[None, :] < ranks[:, None]


@pytest.mark.parametrize("order", ["natural", "reversed", "random", (3, 0, 4, 1, 2)])
def test_jacobian_has_exactly_the_autoregressive_pattern(key, order):
    k_made, k_x, k_c = jax.random.split(key, 3)
    made = _made(k_made, order, cond_size=COND)
    if order == "natural":
        np.testing.assert_array_equal(made.order, np.arange(DIM))
    elif order == "reversed":
        np.testing.assert_array_equal(made.order, np.arange(DIM)[::-1])
    elif not isinstance(order, str):
        np.testing.assert_array_equal(made.order, order)
    cond = jax.random.normal(k_c, (COND,))
    jac, jac_c = _jacobians(made, jax.random.normal(k_x, (DIM,)), cond)
    assert jac.shape == (DIM, PARAMS, DIM)
    nonzero = np.abs(np.asarray(jac)) > 0
    expected = np.broadcast_to(_allowed(made.ranks)[:, None, :], nonzero.shape)
    np.testing.assert_array_equal(nonzero, expected)
    assert expected.sum() == PARAMS * DIM * (DIM - 1) // 2  # a strict triangle, in that order
    # The condition reaches every output, the first dimension's included.
    assert np.all(np.abs(np.asarray(jac_c)).sum(-1) > 0)


def test_relu_never_leaks_across_the_order(key):
    made = _made(key, "random", activation=jax.nn.relu, depth=2)
    xs = jax.random.normal(key, (8, DIM))
    jac = eqx.filter_jit(lambda m, v: jax.vmap(jax.jacobian(m))(v))(made, xs)
    seen = np.any(np.abs(np.asarray(jac)) > 0, axis=(0, 2))  # (DIM, DIM) over inputs/params
    np.testing.assert_array_equal(seen & ~_allowed(made.ranks), False)
    assert seen.sum() > 0


def test_random_order_comes_from_the_key(key):
    orders = {
        tuple(np.asarray(_made(jax.random.fold_in(key, i), "random").order)) for i in range(6)
    }
    assert len(orders) > 1


def test_zero_init_output_gives_zero_params(key):
    made = fk.nn.MADE(key, DIM, PARAMS)
    out = made(jax.random.normal(key, (DIM,)))
    assert out.shape == (DIM, PARAMS)
    np.testing.assert_array_equal(out, 0.0)


def test_one_dimension_depends_on_the_condition_only(key):
    made = fk.nn.MADE(key, 1, 2, width=8, cond_size=COND, zero_init_output=False)
    a = made(jnp.zeros(1), jnp.zeros(COND))
    np.testing.assert_array_equal(a, made(jnp.ones(1), jnp.zeros(COND)))
    assert not np.allclose(a, made(jnp.zeros(1), jnp.ones(COND)))


def test_errors(key):
    with pytest.raises(ValueError, match=r"a given order must be a permutation of 0..4; got"):
        fk.nn.MADE(key, DIM, 2, order=(0, 1, 1, 2, 3))
    with pytest.raises(ValueError, match="unknown order 'sideways'"):
        fk.nn.MADE(key, DIM, 2, order="sideways")
    with pytest.raises(ValueError, match="need in_size, num_params, width, depth >= 1"):
        fk.nn.MADE(key, DIM, 0)
    made = fk.nn.MADE(key, DIM, 2, cond_size=COND)
    with pytest.raises(ValueError, match="built with cond_size=2 but got no condition"):
        made(jnp.zeros(DIM))
