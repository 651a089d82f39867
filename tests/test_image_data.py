"""Data-side transforms of image flows: dequantization stays inside [0, 1)."""

import jax
import jax.numpy as jnp
import numpy as np

import flowkit as fk


def test_dequantized_top_level_stays_below_one():
    # 2**20 draws of the top level: (255 + u) rounds to 256 in float32 once u > 1 - 2**-17,
    # which ~8 of these draws exceed; a value of exactly 1.0 would send logit to inf.
    pixels = np.full((2**20,), 255, np.uint8)
    x = fk.dequantize(jax.random.key(0), pixels)
    raw = (255.0 + jax.random.uniform(jax.random.key(0), pixels.shape)) / 256.0
    assert int(jnp.sum(raw >= 1.0)) > 0, "the draw no longer covers the rounding case"
    assert float(jnp.max(x)) < 1.0
    assert float(jnp.min(x)) >= 255 / 256 - 1e-6
    assert x.dtype == jnp.float32
