"""TarFlow test bits/dim on the 8x8 digits against wall time (the README's target: the
default RealNVP CLI run, 2.61 bits/dim in 19 s on 2 CPU cores).

Adam (warm-up then cosine decay from 3e-3, gradient clipping 1), batches of 128 drawn with
replacement of order, uniform dequantization with new noise every step; test bits/dim with
17 levels. Compile time is part of the reported wall time.

    PYTHONPATH=. python benchmarks/tarflow_digits_bpd.py --steps 600 --width 32 --blocks 4
"""

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import flowkit as fk
from flowkit.data import load_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--layers", type=int, default=1, help="transformer layers per block")
    parser.add_argument("--log-scale-bound", type=float, default=2.0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    train_x, test_x = load_dataset("digits", "train").x, load_dataset("digits", "test").x
    flow = fk.tarflow(
        jax.random.key(0),
        image_shape=(8, 8, 1),
        patch_size=2,
        num_blocks=args.blocks,
        layers_per_block=args.layers,
        width=args.width,
        heads=4,
        log_scale_bound=args.log_scale_bound,
    )
    schedule = optax.warmup_cosine_decay_schedule(0.0, 3e-3, 20, args.steps, 3e-5)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
    params, static = eqx.partition(flow, fk.flows.trainable_filter(flow))
    opt_state = optimizer.init(params)

    @eqx.filter_jit
    def step(params, opt_state, x, key):
        x = fk.dequantize(key, x, num_levels=17)

        def loss(p):
            return -jnp.mean(eqx.combine(p, static).log_prob(x))

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    rng = np.random.default_rng(0)
    for i in range(args.steps):
        rows = rng.choice(len(train_x), 128, replace=False)
        params, opt_state, value = step(params, opt_state, train_x[rows], jax.random.key(i))
        if i % 50 == 0:
            elapsed = time.perf_counter() - started
            print(f"step {i}: train NLL {float(value):.2f} nats, {elapsed:.1f} s", flush=True)
    result = fk.evaluate(eqx.combine(params, static), test_x, num_levels=17, image=True)
    print(f"{args.steps} steps, wall {time.perf_counter() - started:.1f} s; test {result}")
    return result


if __name__ == "__main__":
    main()
