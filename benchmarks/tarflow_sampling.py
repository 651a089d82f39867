"""TarFlow sampling with and without the key/value cache, against the number of patches.

Sampling a :class:`flowkit.bijectors.TransformerAutoregressive` block is a scan over its T
positions.
With the cache, step t embeds one token and attends to the t cached keys: the transformer's
dense layers cost O(1) per step, so the whole sample is linear in T (the attention term,
O(t) per step, is small at these sizes). Without it, step t reruns the transformer over the
whole sequence: O(T) per step, quadratic in all. Both samplers are compiled first (compile
time reported apart), checked to agree, then timed (best of ``--repeats``).

    python benchmarks/tarflow_sampling.py                      # T = 16, 64, 196 patches
    python benchmarks/tarflow_sampling.py --patches 16 64 --width 32 --repeats 2
"""

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import flowkit as fk


def _randomized(layer, key, scale=0.3):
    """Random (not identity) parameters: noise on every float leaf."""
    params, static = eqx.partition(layer, eqx.is_inexact_array)
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    leaves = [
        a + scale * jax.random.normal(k, a.shape, a.dtype)
        for a, k in zip(leaves, keys, strict=True)
    ]
    return eqx.combine(jax.tree_util.tree_unflatten(tree, leaves), static)


def _timed(fn, *args, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def measure(patches: int, features: int, width: int, depth: int, batch: int, repeats: int):
    key = jax.random.key(patches)
    layer = fk.bijectors.TransformerAutoregressive.from_sizes(
        key, (patches, features), width=width, depth=depth, heads=4
    )
    layer = _randomized(layer, jax.random.fold_in(key, 1), scale=0.1)
    z = jax.random.normal(jax.random.fold_in(key, 2), (batch, patches, features))
    cached = jax.jit(lambda u: jax.vmap(layer.forward_and_log_det)(u))
    uncached = jax.jit(lambda u: jax.vmap(layer.forward_and_log_det_uncached)(u))
    row = {"patches": patches}
    for name, fn in (("cached", cached), ("uncached", uncached)):
        t0 = time.perf_counter()
        compiled = fn.lower(z).compile()
        row[f"{name}_compile_s"] = time.perf_counter() - t0
        row[name] = compiled
    x, ld = row["cached"](z)
    x_ref, ld_ref = row["uncached"](z)
    err = float(jnp.max(jnp.abs(x - x_ref)))
    z_back = jax.vmap(layer.inverse)(x)
    assert err < 1e-3 and float(jnp.max(jnp.abs(z_back - z))) < 1e-3, err
    row["max_diff"] = err
    for name in ("cached", "uncached"):
        row[f"{name}_s"] = _timed(row.pop(name), z, repeats=repeats)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, nargs="+", default=[16, 64, 196])
    parser.add_argument("--features", type=int, default=4, help="per patch (2x2x1)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--depth", type=int, default=2, help="transformer layers")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(
        f"one block, width {args.width}, {args.depth} layers, {args.features} features per "
        f"patch, {args.batch} samples; {jax.devices()[0].platform}; best of {args.repeats}"
    )
    header = "patches | cached ms | uncached ms | speed-up | cached us/patch | uncached us/patch"
    print(header + " | compile s (cached/uncached) | max |diff|")
    rows = []
    for t in args.patches:
        r = measure(t, args.features, args.width, args.depth, args.batch, args.repeats)
        rows.append(r)
        print(
            f"{t:7d} | {1e3 * r['cached_s']:9.2f} | {1e3 * r['uncached_s']:11.2f} | "
            f"{r['uncached_s'] / r['cached_s']:7.1f}x | {1e6 * r['cached_s'] / t:15.1f} | "
            f"{1e6 * r['uncached_s'] / t:17.1f} | {r['cached_compile_s']:.2f} / "
            f"{r['uncached_compile_s']:.2f} | {r['max_diff']:.1e}",
            flush=True,
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        growth = b["patches"] / a["patches"]
        print(
            f"T x{growth:.1f}: cached time x{b['cached_s'] / a['cached_s']:.1f}, uncached "
            f"x{b['uncached_s'] / a['uncached_s']:.1f} (linear: x{growth:.1f}, quadratic: "
            f"x{growth**2:.1f})"
        )
    return rows


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
