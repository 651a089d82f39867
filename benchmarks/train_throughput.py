"""Training throughput (examples/s) of flowkit.train's steps: one device vs 8 devices.

RealNVP on the 8x8 digits (64-D vectors of 17-level pixels, dequantized inside the step,
bits/dim loss) with a fixed global batch, for the one-device ``jit`` step, the ``pmap`` step
and the sharded-``jit`` step. Compilation is timed apart; every step's first-batch loss is
checked against the one-device step's before timing. On fake CPU devices
(``--xla_force_host_platform_device_count``) all "devices" share the host's cores, so 8 of
them measure the overhead of splitting, not a speed-up.

    python benchmarks/train_throughput.py                   # 8 fake CPU devices
    python benchmarks/train_throughput.py --devices 8 --batch-size 512 --steps 100
"""

import argparse
import os
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description="training throughput, 1 vs 8 devices")
    parser.add_argument("--devices", type=int, default=8, help="fake CPU devices (CPU only)")
    parser.add_argument("--batch-size", type=int, default=256, help="global batch")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per step kind")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    args = parser.parse_args()
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={args.devices}"
    )
    import jax  # after XLA_FLAGS
    import numpy as np
    from sklearn.datasets import load_digits

    import flowkit as fk
    from flowkit import train

    pixels, _ = load_digits(return_X_y=True)
    pixels = pixels.astype(np.int32)  # (1797, 64), values 0..16
    flow = fk.realnvp(jax.random.key(0), dim=64, num_layers=args.layers, width=args.width)
    optimizer = train.default_optimizer(10_000)
    loss = train.BitsPerDim(num_levels=17)
    n = jax.local_device_count()
    print(
        f"{jax.device_count()} {jax.devices()[0].platform} devices, global batch "
        f"{args.batch_size}, RealNVP {args.layers}x{args.width} on 64-D digits",
        flush=True,
    )
    reference = None
    for kind, make in [
        ("jit (1 device)", train.make_step),
        ("pmap", train.make_pmap_step),
        ("sharded jit", train.make_sharded_step),
    ]:
        step = make(optimizer, loss)
        batches = train.ArrayBatches(
            pixels, batch_size=args.batch_size, seed=0, devices=n if kind == "pmap" else None
        )
        model, opt_state = step.put_state((flow, train.init_opt_state(optimizer, flow)))
        key = jax.random.key(1)
        start = time.perf_counter()
        model, opt_state, metrics = step(model, opt_state, step.put_batch(next(batches)), key)
        first = float(step.get_metrics(metrics)["loss"])
        compile_s = time.perf_counter() - start
        reference = first if reference is None else reference
        if not np.isfinite(first) or abs(first - reference) > 1e-4 * abs(reference):
            sys.exit(f"{kind}: first loss {first} differs from the one-device step's {reference}")
        placed = [step.put_batch(next(batches)) for _ in range(args.steps)]
        jax.block_until_ready(step(model, opt_state, placed[0], key))  # warm
        start = time.perf_counter()
        for i, batch in enumerate(placed):
            model, opt_state, metrics = step(model, opt_state, batch, jax.random.fold_in(key, i))
        jax.block_until_ready((model, opt_state, metrics))
        seconds = time.perf_counter() - start
        rate = args.steps * args.batch_size / seconds
        print(
            f"{kind:16s} first call {compile_s:6.2f} s  {1e3 * seconds / args.steps:7.2f} "
            f"ms/step  {rate:9.0f} examples/s  (loss {first:.4f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
