"""Bits per dimension of a Glow (or multi-scale RealNVP) after a short CPU run on Fashion-MNIST.

Reads the IDX files of the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist/``) through ``flowkit.data.load_dataset``, dequantizes
the 8-bit pixels to [0, 1) (``(x + u) / 256``), initialises ActNorm on a batch, trains with
Adam and reports test bits/dim (256 levels, discretization correction included) before and
after, on a fixed subset of the test set with fixed dequantization noise. Compilation and the
training steps are timed apart.

    apt-get install -y dataset-fashion-mnist
    python benchmarks/fashion_mnist_bpd.py                       # glow, 400 steps
    python benchmarks/fashion_mnist_bpd.py --model realnvp_multiscale --steps 200
"""

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import flowkit as fk
from flowkit.data import DataError, load_dataset


def load_images(split: str) -> np.ndarray:
    """``(N, 28, 28, 1)`` uint8 images of the ``train`` or ``test`` split."""
    try:
        return load_dataset("fashion-mnist", split, download=False).x
    except DataError as error:
        raise SystemExit(f"{error}\n(apt-get install -y dataset-fashion-mnist)") from None


def build(args, key) -> fk.Flow:
    shape = (28, 28, 1)
    if args.model == "glow":
        return fk.glow(
            key,
            image_shape=shape,
            num_scales=args.scales,
            layers_per_scale=args.blocks,
            width=args.hidden,
            depth=args.res_blocks,
            unroll=1 if args.scan else "auto",
        )
    return fk.realnvp_multiscale(
        key,
        image_shape=shape,
        num_scales=args.scales,
        width=args.hidden,
        depth=args.res_blocks,
        unroll=1 if args.scan else "auto",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["glow", "realnvp_multiscale"], default="glow")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--scales", type=int, default=2)
    parser.add_argument("--blocks", type=int, default=4, help="glow steps per scale")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--res-blocks", type=int, default=1)
    parser.add_argument("--eval-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scan",
        action="store_true",
        help="scan the stacked layers (default: unroll='auto', no loop on CPU)",
    )
    args = parser.parse_args()

    train, test = load_images("train"), load_images("test")
    print(f"train {train.shape} test {test.shape} {train.dtype}; devices {jax.devices()}")
    key = jax.random.key(args.seed)
    k_model, k_init, k_eval, k_train = jax.random.split(key, 4)
    flow = build(args, k_model)
    if args.model == "glow":
        flow = fk.data_init(flow, fk.dequantize(k_init, train[:512]))
    print(f"{args.model}: {fk.count_parameters(flow)} parameters; scan-stacked: {args.scan}")

    params, static = eqx.partition(flow, fk.flows.trainable_filter(flow))
    optimizer = optax.adam(args.lr)
    opt_state = optimizer.init(params)
    num_dims = 28 * 28

    def loss(p, x):
        return jnp.mean(fk.bits_per_dim(eqx.combine(p, static).log_prob(x), num_dims))

    @eqx.filter_jit
    def step(p, s, x):
        value, grads = jax.value_and_grad(loss)(p, x)
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    evaluate = eqx.filter_jit(loss)
    eval_x = fk.dequantize(k_eval, test[: args.eval_size])
    eval_batches = np.array_split(np.arange(args.eval_size), max(1, args.eval_size // 500))

    def test_bpd(p) -> float:
        # Equal-sized chunks, so one compiled evaluation serves them all.
        values = [float(evaluate(p, eval_x[idx])) * len(idx) for idx in eval_batches]
        return sum(values) / args.eval_size

    t0 = time.perf_counter()
    before = test_bpd(params)
    seconds = time.perf_counter() - t0
    print(f"test bits/dim before training: {before:.3f}  (eval incl. compile {seconds:.1f}s)")

    rng = np.random.default_rng(args.seed)
    x0 = fk.dequantize(jax.random.fold_in(k_train, 0), train[: args.batch])
    t0 = time.perf_counter()
    jax.block_until_ready(step(params, opt_state, x0))
    print(f"train step compile + first step: {time.perf_counter() - t0:.1f}s")

    t0 = time.perf_counter()
    for i in range(args.steps):
        idx = rng.choice(len(train), args.batch, replace=False)
        x = fk.dequantize(jax.random.fold_in(k_train, i), train[idx])
        params, opt_state, value = step(params, opt_state, x)
        if (i + 1) % max(1, args.steps // 8) == 0:
            seconds = time.perf_counter() - t0
            print(f"step {i + 1:5d}  train bits/dim {float(value):.3f}  ({seconds:.0f}s)")
    seconds = time.perf_counter() - t0
    after = test_bpd(params)
    print(
        f"RESULT {args.model} steps={args.steps} batch={args.batch} lr={args.lr} "
        f"scales={args.scales} blocks={args.blocks} hidden={args.hidden} scan={args.scan}: "
        f"test bits/dim "
        f"{before:.3f} -> {after:.3f} on {args.eval_size} test images; "
        f"{seconds / args.steps:.2f}s/step on {jax.devices()[0].platform}"
    )


if __name__ == "__main__":
    main()
