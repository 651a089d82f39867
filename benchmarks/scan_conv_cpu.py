"""Train-step time of Glow and multi-scale RealNVP, scanned vs unrolled (docs/scan_conv_cpu.md).

One Adam step on the mean negative log-likelihood of a batch, jitted with ``eqx.filter_jit``,
for ``unroll=1`` (``lax.scan``), ``unroll=2`` and ``unroll=True`` (no loop) at several steps
per scale. Compilation (first call minus one step) is timed apart from the median step. Run
it in two checkouts to compare before and after a change; on a checkout whose factories do
not take ``unroll`` yet, every ``fk.Stack`` is rebuilt with it.

    python benchmarks/scan_conv_cpu.py                          # the table in the doc
    python benchmarks/scan_conv_cpu.py --models glow --shapes 8 --depths 2 4 --repeats 3
"""

import argparse
import inspect
import statistics
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import flowkit as fk

UNROLLS = {"scan": 1, "unroll2": 2, "unrolled": True}


def build(model: str, side: int, depth: int, unroll, hidden: int) -> fk.Flow:
    factory = fk.glow if model == "glow" else fk.realnvp_multiscale
    kwargs: dict[str, Any] = {"layers_per_scale": depth, "width": hidden, "depth": 1}
    if model == "realnvp_multiscale":
        kwargs["final_layers"] = depth
    if "unroll" in inspect.signature(factory).parameters:
        return factory(jax.random.key(0), image_shape=(side, side, 1), unroll=unroll, **kwargs)
    flow = factory(jax.random.key(0), image_shape=(side, side, 1), **kwargs)
    is_stack = lambda node: isinstance(node, fk.Stack)  # noqa: E731
    restack = lambda n: fk.Stack(n.layers, n.num_layers, unroll=unroll) if is_stack(n) else n  # noqa: E731
    return jax.tree_util.tree_map(restack, flow, is_leaf=is_stack)


def time_step(flow: fk.Flow, x: jax.Array, repeats: int) -> tuple[float, float, float]:
    """(compile seconds, median step seconds, first loss) of one jitted Adam step."""
    optimizer = optax.adam(1e-3)
    params, static = eqx.partition(flow, eqx.is_inexact_array)

    @eqx.filter_jit
    def step(params, opt_state, x):
        def loss(p):
            return -jnp.mean(eqx.combine(p, static).log_prob(x))

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    opt_state = optimizer.init(params)
    start = time.perf_counter()
    _, _, first = jax.block_until_ready(step(params, opt_state, x))
    first_call = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        params, opt_state, value = jax.block_until_ready(step(params, opt_state, x))
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return first_call - median, median, float(first)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["glow", "realnvp_multiscale"])
    parser.add_argument("--shapes", nargs="+", type=int, default=[8, 28], help="image sides")
    parser.add_argument("--depths", nargs="+", type=int, default=[2, 4, 8])
    parser.add_argument("--unrolls", nargs="+", default=list(UNROLLS), choices=list(UNROLLS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"backend {jax.default_backend()}, batch {args.batch}, hidden {args.hidden}")
    print("model               side depth  unroll    compile_s  step_s  step/scan  loss")
    for model in args.models:
        for side in args.shapes:
            x = jax.random.uniform(jax.random.key(1), (args.batch, side, side, 1))
            for depth in args.depths:
                scan_step = None
                for name in args.unrolls:
                    flow = build(model, side, depth, UNROLLS[name], args.hidden)
                    compile_s, step_s, loss = time_step(flow, x, args.repeats)
                    if not jnp.isfinite(loss):
                        raise SystemExit(f"{model} {side} {depth} {name}: loss {loss}")
                    scan_step = scan_step or step_s
                    print(
                        f"{model:<19} {side:>4} {depth:>5}  {name:<8}  {compile_s:>9.2f}  "
                        f"{step_s:>6.3f}  {step_s / scan_step:>9.2f}  {loss:.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
