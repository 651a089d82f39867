"""evaluate: statistics against numpy on known values, NLL against a closed form, fixed
dequantization noise for images, padding-free results under any batch size, outliers."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk
from tests.registry._random import randomize


def test_summary_statistics_match_numpy():
    values = np.concatenate([np.arange(101.0), [np.nan, np.inf, -np.inf]])
    values[[3, 50]] = values[[50, 3]]  # worst finite (100) stays at index 100
    ev = fk.train.summarize(values, "nll", num_worst=5)
    finite = np.arange(101.0)
    assert ev.mean == 50.0 and ev.median == 50.0
    assert ev.p01 == pytest.approx(1.0) and ev.p99 == pytest.approx(99.0)
    assert ev.stderr == pytest.approx(finite.std(ddof=1) / math.sqrt(101), rel=1e-12)
    assert ev.num_nonfinite == 3 and ev.num_examples == 104
    np.testing.assert_array_equal(ev.worst, [101, 102, 103, 100, 99])
    rng = np.random.default_rng(1)
    heavy = rng.standard_cauchy(999) ** 2  # a few huge values, like exploding test digits
    ev = fk.train.summarize(heavy, "bits/dim", num_worst=3)
    assert ev.mean == pytest.approx(heavy.mean(), rel=1e-12)
    assert ev.median == pytest.approx(np.median(heavy), rel=1e-12)
    np.testing.assert_allclose([ev.p01, ev.p99], np.percentile(heavy, [1, 99]), rtol=1e-12)
    np.testing.assert_array_equal(ev.worst, np.argsort(heavy)[::-1][:3])
    assert ev.to_dict()["worst"] == [int(i) for i in ev.worst]


def _affine_flow(shape, key):
    k1, k2 = jax.random.split(key)
    loc = jax.random.normal(k1, shape)
    scale = jnp.exp(0.5 * jax.random.normal(k2, shape))
    return (
        fk.Flow(fk.Affine(loc, scale), fk.standard_normal(shape)),
        np.asarray(loc),
        np.asarray(scale),
    )


def _normal_nll(x, loc, scale):
    z = (x - loc) / scale
    axes = tuple(range(1, x.ndim))
    return np.sum(0.5 * z**2 + 0.5 * np.log(2 * np.pi) + np.log(scale), axis=axes)


def test_vector_nll_against_closed_form_any_batch_size(key):
    flow, loc, scale = _affine_flow((3,), key)
    x = np.random.default_rng(0).normal(size=(11, 3))
    expected = _normal_nll(x, loc, scale)
    for batch_size in (4, 11, 64):  # padded last batch, exact fit, one short batch
        ev = fk.evaluate(flow, x, batch_size=batch_size)
        assert ev.metric == "nll" and ev.num_examples == 11
        np.testing.assert_allclose(ev.values, expected, rtol=1e-5)
    assert ev.mean == pytest.approx(expected.mean(), rel=1e-5)
    assert ev.median == pytest.approx(np.median(expected), rel=1e-5)
    np.testing.assert_array_equal(ev.worst[:3], np.argsort(-expected)[:3])


def test_conditions_shared_and_per_example(key):
    # Random parameters: a fresh flow is the identity and ignores its condition, so a
    # mixed-up condition would go unnoticed.
    flow = randomize(fk.realnvp(key, dim=2, num_layers=2, width=8, cond_shape=1), key)
    log_prob = eqx.filter_jit(lambda f, x, c: f.log_prob(x, c))
    x = np.random.default_rng(0).normal(size=(5, 2))
    c = np.linspace(-1, 1, 5)[:, None]
    per = fk.evaluate(flow, x, condition=c, batch_size=2)
    np.testing.assert_allclose(per.values, -np.asarray(log_prob(flow, x, c)), rtol=1e-5)
    reversed_conditions = -np.asarray(log_prob(flow, x, c[::-1]))
    assert not np.allclose(per.values, reversed_conditions, rtol=1e-3)  # conditions matter
    shared = fk.evaluate(flow, x, condition=np.array([0.5]), batch_size=2)
    np.testing.assert_allclose(
        shared.values, -np.asarray(log_prob(flow, x, c * 0 + 0.5)), rtol=1e-5
    )


def test_images_fixed_dequantization_in_bits_per_dim(key):
    shape = (2, 2, 1)
    pixels = np.random.default_rng(0).integers(0, 256, (7, *shape)).astype(np.uint8)
    # A uniform density on [0, 1)^D: every dequantized image has log p = 0, i.e. 8 bits/dim.
    uniform = fk.Flow(fk.Identity(shape), fk.uniform(shape))
    ev = fk.evaluate(uniform, pixels, batch_size=3, num_draws=2)
    np.testing.assert_allclose(ev.values, 8.0, rtol=1e-6)

    flow, loc, scale = _affine_flow(shape, key)
    ev = fk.evaluate(flow, pixels, batch_size=3, seed=5, num_draws=2)
    assert ev.metric == "bits/dim" and ev.num_draws == 2
    draws = []
    for d in range(2):  # the documented noise: fold_in(fold_in(key(seed), d), i)
        k = jax.random.fold_in(jax.random.key(5), d)
        y = np.stack(
            [np.asarray(fk.dequantize(jax.random.fold_in(k, i), pixels[i])) for i in range(7)]
        )
        nll = _normal_nll(y.astype(np.float64), loc, scale)
        draws.append((nll + 4 * math.log(256)) / (4 * math.log(2)))
    np.testing.assert_allclose(ev.values, np.mean(draws, axis=0), rtol=1e-5)
    assert not np.allclose(draws[0], draws[1])
    same = fk.evaluate(flow, pixels, batch_size=7, seed=5, num_draws=2)
    np.testing.assert_array_equal(same.values, ev.values)  # batch size does not change noise
    other = fk.evaluate(flow, pixels, batch_size=3, seed=6, num_draws=2)
    assert not np.allclose(other.values, ev.values)


def test_outliers_do_not_hide_in_the_summary(key):
    # Uniform base on [0, 1]^2: a point outside has zero density (infinite NLL).
    flow = fk.Flow(fk.Identity((2,)), fk.uniform((2,)))
    x = np.full((6, 2), 0.5)
    x[4] = [1.5, 0.5]
    ev = fk.evaluate(flow, x, batch_size=4)
    assert ev.num_nonfinite == 1 and ev.worst[0] == 4
    assert ev.mean == 0.0 and ev.p99 == 0.0  # the finite five
    assert "non-finite 1" in str(ev)


def test_bad_inputs_are_explained(key):
    flow, _, _ = _affine_flow((3,), key)
    with pytest.raises(ValueError, match=r"expected data of shape \(N, 3\) .* got \(4, 2\)"):
        fk.evaluate(flow, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="integer data are pixels; use image=True"):
        fk.evaluate(flow, np.zeros((4, 3), np.uint8), image=False)
    with pytest.raises(ValueError, match="several draws need integer pixels"):
        fk.evaluate(flow, np.zeros((4, 3)), num_draws=3)
