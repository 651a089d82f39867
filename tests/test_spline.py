"""Rational-quadratic spline maths: correct and NaN-free at knots, bounds, far tails and for
extreme parameters, in values and gradients; float32 round trips inside the bound."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk
from flowkit.bijectors._spline import rqs_forward, rqs_inverse, spline_knots

BOUND = 3.0
NUM_BINS = 8
GRID = 2048  # every call evaluates this many points (one compilation per dtype)


def _params(key, scale=1.0, n=None):
    shape = (3 * NUM_BINS - 1,) if n is None else (n, 3 * NUM_BINS - 1)
    return scale * jax.random.normal(key, shape)


# Jitted once for the tests that need the knots themselves (eagerly it compiles op by op).
_knots = jax.jit(spline_knots, static_argnums=1)


def _forward(x, params):
    return rqs_forward(x, spline_knots(params, BOUND), BOUND)


def _inverse(y, params):
    return rqs_inverse(y, spline_knots(params, BOUND), BOUND)


def _everything(points, params):
    """``_grid_run`` on ``points`` padded to ``GRID`` points, so it compiles once per dtype."""
    points = jnp.asarray(points, params.dtype)
    n = points.shape[0]
    # Pad in the identity tail, where nothing depends on the parameters.
    padded = jnp.concatenate([points, jnp.full(GRID - n, 2 * BOUND, params.dtype)])
    return {k: (v[:n] if k != "grad_params" else v) for k, v in _grid_run(padded, params).items()}


@jax.jit
def _grid_run(xs, params):
    """Values, log-derivatives, autodiff derivatives and parameter gradients on a grid."""
    y, ld = jax.vmap(_forward, (0, None))(xs, params)
    x_back, ld_inv = jax.vmap(_inverse, (0, None))(y, params)
    dy = jax.vmap(jax.grad(lambda v: _forward(v, params)[0]))(xs)
    dx = jax.vmap(jax.grad(lambda v: _inverse(v, params)[0]))(y)
    dld = jax.vmap(jax.grad(lambda v: _forward(v, params)[1]))(xs)
    dld_inv = jax.vmap(jax.grad(lambda v: _inverse(v, params)[1]))(y)

    def total(p):
        fwd = jax.vmap(_forward, (0, None))(xs, p)
        inv = jax.vmap(_inverse, (0, None))(y, p)
        return sum(jnp.sum(a) for a in (*fwd, *inv))

    return dict(
        y=y,
        ld=ld,
        x_back=x_back,
        ld_inv=ld_inv,
        dy=dy,
        dx=dx,
        dld=dld,
        dld_inv=dld_inv,
        grad_params=jax.grad(total)(params),
    )


def _all_finite(out):
    return {k: bool(jnp.all(jnp.isfinite(v))) for k, v in out.items()}


def test_zero_params_is_identity():
    xs = jnp.linspace(-5.0, 5.0, 101)
    out = _everything(xs, jnp.zeros(3 * NUM_BINS - 1))
    np.testing.assert_allclose(out["y"], xs, atol=1e-6)
    np.testing.assert_allclose(out["ld"], 0.0, atol=1e-6)


def test_knots_bounds_and_derivatives(key):
    params = _params(key)
    x_knots, y_knots, derivs = _knots(params, BOUND)
    assert x_knots.shape == y_knots.shape == derivs.shape == (NUM_BINS + 1,)
    np.testing.assert_array_equal([x_knots[0], x_knots[-1]], [-BOUND, BOUND])
    np.testing.assert_array_equal([y_knots[0], y_knots[-1]], [-BOUND, BOUND])
    np.testing.assert_array_equal([derivs[0], derivs[-1]], [1.0, 1.0])  # smooth tails
    assert np.all(np.diff(x_knots) >= 2 * BOUND * 1e-3 * (1 - 1e-5))  # minimum bin width
    assert np.all(np.diff(y_knots) >= 2 * BOUND * 1e-3 * (1 - 1e-5))  # minimum bin height
    assert np.all(derivs >= 1e-3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exact_at_knots_values_and_gradients(key, dtype):
    # float64 shows the maths is exact at the knots. In float32 the knots are recomputed
    # under jit, maybe an ulp away, and a bin of width ~1e-2 next to the knot turns that ulp
    # into a few percent on the inverse's derivative: still far from a halved gradient.
    rtol = 1e-9 if dtype == "float64" else 5e-2
    with jax.enable_x64(dtype == "float64"):
        params = _params(key, 2.0).astype(dtype)
        x_knots, y_knots, derivs = map(np.asarray, _knots(params, BOUND))
        out = {k: np.asarray(v) for k, v in _everything(x_knots, params).items()}
    assert out["y"].dtype == np.dtype(dtype)
    assert all(_all_finite(out).values()), _all_finite(out)
    np.testing.assert_allclose(out["y"], y_knots, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(out["x_back"], x_knots, rtol=rtol, atol=rtol)
    # dy/dx at a knot is the knot derivative, from the formula and from autodiff alike
    # (a clip on the bin position would halve the autodiff one there).
    np.testing.assert_allclose(np.exp(out["ld"]), derivs, rtol=rtol)
    np.testing.assert_allclose(out["dy"], derivs, rtol=rtol)
    np.testing.assert_allclose(out["dx"], 1.0 / derivs, rtol=rtol)
    np.testing.assert_allclose(out["ld_inv"], -out["ld"], rtol=rtol, atol=rtol)


def test_exactly_at_tail_bound(key):
    params = _params(key, 2.0)
    xs = jnp.array([-BOUND, BOUND])
    out = _everything(xs, params)
    assert all(_all_finite(out).values()), _all_finite(out)
    np.testing.assert_allclose(out["y"], xs, atol=1e-6)
    np.testing.assert_allclose(out["x_back"], xs, atol=1e-6)
    np.testing.assert_allclose(out["ld"], 0.0, atol=1e-5)
    np.testing.assert_allclose(out["dy"], 1.0, rtol=1e-5)  # boundary derivative 1, not 1/2
    np.testing.assert_allclose(out["dx"], 1.0, rtol=1e-5)
    # The tails join with a continuous first derivative: y(B - eps) = B - eps + O(eps^2).
    eps = 1e-3
    near = _everything(jnp.array([-BOUND + eps, BOUND - eps]), params)
    np.testing.assert_allclose(near["y"], [-BOUND + eps, BOUND - eps], atol=1e-4)


def test_far_outside_is_identity_with_finite_gradients(key):
    params = _params(key, 2.0)
    xs = jnp.array([-1e4, -50.0, -BOUND - 1e-4, BOUND + 1e-4, 50.0, 1e4])
    out = _everything(xs, params)
    assert all(_all_finite(out).values()), _all_finite(out)
    np.testing.assert_array_equal(out["y"], xs)
    np.testing.assert_array_equal(out["x_back"], xs)
    np.testing.assert_array_equal(out["ld"], 0.0)
    np.testing.assert_array_equal(out["dy"], 1.0)
    np.testing.assert_array_equal(out["grad_params"], 0.0)  # tails do not depend on params


@pytest.mark.parametrize("kind", ["+1e3", "-1e3", "random sign 1e3"])
def test_extreme_parameters_are_nan_free(key, kind):
    if kind == "random sign 1e3":
        params = 1e3 * jnp.sign(_params(key))
    else:
        params = jnp.full((3 * NUM_BINS - 1,), float(kind), jnp.float32)  # not weakly typed
    x_knots, _, _ = _knots(params, BOUND)
    xs = jnp.concatenate(
        [jnp.linspace(-BOUND, BOUND, 2001), x_knots, jnp.array([-1e4, -BOUND, BOUND, 1e4])]
    )  # 2023 points: the grid check below uses the first 2001
    out = _everything(xs, params)
    assert all(_all_finite(out).values()), _all_finite(out)
    assert np.all(np.diff(np.asarray(out["y"][:2001])) >= 0)  # still monotone
    # Where the spline is not flat the round trip still holds in float32.
    steep = np.asarray(jnp.exp(out["ld"])) > 1e-2
    np.testing.assert_allclose(out["x_back"][steep], xs[steep], atol=1e-3)


def test_float32_round_trip_and_log_derivatives(key):
    """Random parameters of a trained-network scale; inside the bound, float32."""
    xs = jnp.linspace(-BOUND, BOUND, GRID)
    worst = 0.0
    for i, params in enumerate(_params(key, 1.0, n=20)):
        out = _everything(xs, params)
        assert all(_all_finite(out).values()), (i, _all_finite(out))
        assert out["y"].dtype == jnp.float32
        err = np.abs(np.asarray(out["x_back"] - xs))
        deriv = np.asarray(jnp.exp(out["ld"]))
        # Inverting a flat stretch of the spline loses what float32 rounding of y lost
        # (ulp(y) / f'(x)); away from that the inverse is within 1e-4.
        allowed = 1e-4 + 8 * np.finfo(np.float32).eps * BOUND / deriv
        assert np.all(err <= allowed), (i, float(err.max()))
        worst = max(worst, float(err[deriv > 1e-2].max()))
        np.testing.assert_allclose(out["ld_inv"], -out["ld"], atol=1e-3)
        np.testing.assert_allclose(np.log(out["dy"]), out["ld"], atol=1e-3)
        np.testing.assert_allclose(np.log(out["dx"]), out["ld_inv"], atol=1e-3)
        assert np.all(np.diff(np.asarray(out["y"])) > 0)
    assert worst < 1e-4


def test_transformer_vectorises_and_checks_param_count(key):
    transformer = fk.bijectors.RationalQuadraticSplineTransformer(
        num_bins=NUM_BINS, tail_bound=BOUND
    )
    assert transformer.num_params == 3 * NUM_BINS - 1
    x = jnp.array([-10.0, -1.0, 0.5, 2.9, 10.0])
    params = _params(key, 1.0, n=5)
    y, ld = transformer.forward_and_log_det(x, params)
    np.testing.assert_array_equal(y[::4], x[::4])  # the two entries in the tails
    assert bool(jnp.all(y[1:4] != x[1:4]))  # each entry its own spline
    x_back, ld_inv = transformer.inverse_and_log_det(y, params)
    np.testing.assert_allclose(x_back, x, atol=1e-4)
    np.testing.assert_allclose(ld_inv, -ld, atol=1e-4)
    with pytest.raises(ValueError, match="num_bins=8 expects 23 parameters per entry; got 22"):
        transformer.forward_and_log_det(x, params[:, :-1])
    with pytest.raises(ValueError, match="need num_bins >= 1 and tail_bound > 0"):
        fk.bijectors.RationalQuadraticSplineTransformer(num_bins=4, tail_bound=0.0)
    with pytest.raises(ValueError, match="times num_bins must be < 1"):
        fk.bijectors.RationalQuadraticSplineTransformer(num_bins=10, min_bin_width=0.1)
