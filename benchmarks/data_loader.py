"""Grain loader throughput (batches/s) against what a training step consumes.

For each data set and worker count: the time to the first batch (worker start-up) apart,
then batches/s over the following batches, after checking that the batches are right
(shape, dtype, values in [0, 1), the sequence equal to the in-process loader's). With
``--step``, a jitted RealNVP NLL + Adam step on the same (flattened) batches is timed on
device-resident data (steps/s it could consume) and end to end (loader feeding the step).

    python benchmarks/data_loader.py                          # digits, fashion-mnist; 0 workers
    python benchmarks/data_loader.py --workers 0 1 2 --batches 400
    python benchmarks/data_loader.py --data fashion-mnist --step
"""

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import flowkit as fk
from flowkit.data import Loader, load_dataset


def check(batch: dict, loader: Loader, reference: dict) -> None:
    x = batch["x"]
    assert x.shape == (loader.local_batch_size, *loader.event_shape) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() < 1.0, (x.min(), x.max())
    np.testing.assert_array_equal(x, reference["x"])


def loader_rate(data, batch_size: int, workers: int, batches: int) -> dict:
    loader = Loader(data, batch_size=batch_size, seed=0, flatten=True, worker_count=workers)
    iterator = iter(loader)
    start = time.perf_counter()
    check(next(iterator), loader, loader.batch(0))
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
    seconds = time.perf_counter() - start
    check(batch, loader, loader.batch(batches))
    iterator.close()
    return {"first_batch_s": first, "batches_per_s": batches / seconds}


def step_rates(data, batch_size: int, batches: int) -> dict:
    dim = int(np.prod(data.event_shape))
    flow = fk.realnvp(jax.random.key(0), dim=dim, num_layers=8, width=256, depth=2)
    params, static = eqx.partition(flow, fk.flows.trainable_filter(flow))
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, x):
        def loss(p):
            log_prob = eqx.combine(p, static).log_prob(x)
            return fk.bits_per_dim(log_prob, dim, num_levels=data.num_levels).mean()

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    loader = Loader(data, batch_size=batch_size, seed=0, flatten=True)
    resident = [jnp.asarray(loader.batch(i)["x"]) for i in range(4)]
    params, opt_state, value = jax.block_until_ready(step(params, opt_state, resident[0]))
    assert np.isfinite(value)
    start = time.perf_counter()
    for i in range(batches):
        params, opt_state, value = step(params, opt_state, resident[i % 4])
    jax.block_until_ready(value)
    compute = batches / (time.perf_counter() - start)
    iterator = iter(loader)
    start = time.perf_counter()
    for _ in range(batches):
        params, opt_state, value = step(params, opt_state, next(iterator)["x"])
    jax.block_until_ready(value)
    end_to_end = batches / (time.perf_counter() - start)
    return {"step_per_s_resident": compute, "step_per_s_fed": end_to_end}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "fashion-mnist"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--step", action="store_true", help="also time a RealNVP train step")
    parser.add_argument("--step-batches", type=int, default=30)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}; batch {args.batch_size}")
    for name in args.data:
        data = load_dataset(name)
        for workers in args.workers:
            r = loader_rate(data, args.batch_size, workers, args.batches)
            print(
                f"{name:14s} workers={workers}  first batch {r['first_batch_s']:6.2f} s  "
                f"{r['batches_per_s']:8.1f} batches/s  "
                f"({r['batches_per_s'] * args.batch_size:9.0f} images/s)",
                flush=True,
            )
        if args.step:
            s = step_rates(data, args.batch_size, args.step_batches)
            print(
                f"{name:14s} RealNVP step (8 layers, width 256): "
                f"{s['step_per_s_resident']:7.1f} steps/s on resident batches, "
                f"{s['step_per_s_fed']:7.1f} steps/s fed by the loader",
                flush=True,
            )


if __name__ == "__main__":
    main()
