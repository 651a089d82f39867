"""Compile time of MAF sampling (the sequential direction) against the dimension D.

MAF sampling solves for x one dimension at a time: D steps of a ``lax.fori_loop`` traced
once, so the traced program, and with it the compile time, should not grow with D (only
the weight shapes do). Tracing+lowering and XLA compilation are timed apart, then the
compiled sampler is checked (finite samples whose log-density round-trips) and timed.

    python benchmarks/maf_compile_time.py                      # D = 16 and 784
    python benchmarks/maf_compile_time.py --dims 16 64 256 784 --layers 5 --width 512
"""

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import flowkit as fk


def _count_equations(jaxpr) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    total += _count_equations(inner)
    return total


def measure(dim: int, layers: int, width: int, batch: int, repeats: int) -> dict:
    key = jax.random.key(0)
    flow = fk.maf(key, dim=dim, num_layers=layers, width=width)
    params, static = eqx.partition(flow, eqx.is_array)

    def sample(p, k):
        return eqx.combine(p, static).sample_and_log_prob(k, (batch,))

    equations = _count_equations(jax.make_jaxpr(sample)(params, key).jaxpr)
    start = time.perf_counter()
    lowered = jax.jit(sample).lower(params, key)
    traced = time.perf_counter()
    compiled = lowered.compile()
    done = time.perf_counter()

    x, log_p = jax.block_until_ready(compiled(params, key))  # warm-up, then check it
    assert x.shape == (batch, dim) and bool(jnp.all(jnp.isfinite(x)))
    log_p_again = eqx.filter_jit(lambda f, v: f.log_prob(v))(flow, x)  # one-pass direction
    np.testing.assert_allclose(log_p, log_p_again, rtol=1e-3, atol=1e-2 * dim**0.5)

    runs = []
    for i in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(params, jax.random.fold_in(key, i)))
        runs.append(time.perf_counter() - t)
    return dict(
        dim=dim,
        equations=equations,
        trace_lower_s=traced - start,
        compile_s=done - traced,
        run_ms=1e3 * float(np.median(runs)),
    )


def main():
    parser = argparse.ArgumentParser(description="Compile time of MAF sampling against D.")
    parser.add_argument("--dims", type=int, nargs="+", default=[16, 784])
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    platform = jax.devices()[0].platform
    print(f"jax {jax.__version__} on {platform}: maf(num_layers={args.layers}, width={args.width})")
    print(f"sample_and_log_prob of {args.batch} events, median of {args.repeats} runs\n")
    measure(4, 1, 8, 2, 1)  # warm-up: XLA's one-off start-up cost goes to no row
    print(f"{'D':>5} {'jaxpr eqns':>10} {'trace+lower s':>14} {'compile s':>10} {'run ms':>9}")
    for dim in args.dims:
        r = measure(dim, args.layers, args.width, args.batch, args.repeats)
        print(
            f"{r['dim']:>5} {r['equations']:>10} {r['trace_lower_s']:>14.2f} "
            f"{r['compile_s']:>10.2f} {r['run_ms']:>9.1f}"
        )


if __name__ == "__main__":
    main()
