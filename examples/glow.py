"""Glow on Fashion-MNIST (or MNIST where present): multi-scale squeeze / ActNorm / invertible
1x1 convolution (LU) / affine coupling with Glow's learned prior for the factored-out
halves, trained by ``fk.fit`` in bits/dim (ActNorm initialised on data, the default
warm-up + cosine Adam); samples at temperatures T = 0.5, 0.7, 0.9, 1.0 as in the Glow
paper, the training curve, and test bits/dim.

    python examples/glow.py                  # 2 scales x 8 steps, 64 channels, 300 steps of 64
    python examples/glow.py --steps 16000    # the gallery's run: ~30 minutes on 2 CPU cores
    python examples/glow.py --quick          # tiny, for the tests

The conditioners default to flowkit train's recipe for 28x28 images: 64 channels and no
residual block (``--res-blocks 1`` for Glow's deeper ones, about 8x the parameters).
"""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _common import (
    fit_metrics,
    load_mnist_or_fashion,
    output_dir,
    parse_args,
    subset,
    write_metrics,
)

import flowkit as fk
from flowkit import plots

TEMPERATURES = (0.5, 0.7, 0.9, 1.0)


def add_arguments(parser):
    parser.add_argument("--steps", type=int, default=None, help="default 300 (quick: 3)")
    parser.add_argument("--blocks", type=int, default=8, help="Glow steps per scale")
    parser.add_argument("--hidden", type=int, default=64, help="conditioner channels")
    parser.add_argument("--res-blocks", type=int, default=0, help="residual blocks per conditioner")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--mnist", default=None, help="a folder of MNIST IDX files")


@eqx.filter_jit
def temperature_samples(flow, key, temperatures, per_row: int = 8):
    """``per_row`` samples at each temperature, from one compiled program: the normal base
    has mean zero, so sampling at temperature T maps T z through the bijector."""
    z = flow.base.sample(seed=key, sample_shape=(per_row,))
    scaled = temperatures[:, None, None, None, None] * z[None]
    images = jax.vmap(jax.vmap(flow.bijector.forward))(scaled)
    return images


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    out = output_dir(args, "glow")
    started = time.perf_counter()
    train_set, test_set, data_name = load_mnist_or_fashion(args.mnist, download=not args.quick)
    if args.quick:
        config = dict(
            scales=1,
            blocks=1,
            hidden=8,
            res_blocks=0,
            batch=16,
            steps=args.steps or 3,
            train_n=64,
            test_n=32,
        )
    else:
        config = dict(
            scales=2,
            blocks=args.blocks,
            hidden=args.hidden,
            res_blocks=args.res_blocks,
            batch=args.batch,
            steps=args.steps or 300,
            train_n=None,
            test_n=2000,
        )
    train_x, _ = subset(train_set, config["train_n"], args.seed)
    test_x, _ = subset(test_set, config["test_n"], args.seed + 1)
    print(f"data: {data_name}, train {train_x.shape}, test {test_x.shape}")

    key = jax.random.key(args.seed)
    k_model, k_fit, k_sample = jax.random.split(key, 3)
    flow = fk.glow(
        k_model,
        image_shape=(28, 28, 1),
        num_scales=config["scales"],
        layers_per_scale=config["blocks"],
        width=config["hidden"],
        depth=config["res_blocks"],
        unroll=1 if args.quick else "auto",  # quick: scan, the shortest compile
    )
    before = fk.evaluate(flow, test_x, batch_size=min(250, len(test_x)))
    # ActNorm layers start from the statistics of (dequantized) training pixels
    flow = fk.data_init(flow, fk.dequantize(jax.random.fold_in(k_fit, 7), train_x[:512]))
    flow, history = fk.fit(
        k_fit,
        flow,
        train_x,  # uint8 pixels: dequantized every step, scored in bits/dim
        stopping=fk.Stopping(max_steps=config["steps"]),
        batch_size=config["batch"],
        optimizer=lambda steps: fk.train.default_optimizer(steps, learning_rate=args.lr),
        validation=0.05,
        progress=not args.quick,
    )
    losses = history.step_loss
    after = fk.evaluate(flow, test_x, batch_size=min(250, len(test_x)))
    print(f"test {after}")

    rows = np.asarray(temperature_samples(flow, k_sample, jnp.asarray(TEMPERATURES)))
    samples = dict(zip(TEMPERATURES, rows, strict=True))
    plots.temperature_grid(out / "temperatures.png", samples)
    plots.training_curve(
        out / "training_curve.png", range(1, len(losses) + 1), losses, ylabel="train bits/dim"
    )
    return write_metrics(
        out,
        {
            "example": "glow",
            "data": data_name,
            "quick": args.quick,
            **config,
            "parameters": fk.count_parameters(flow),
            "test_bits_per_dim_before": before.mean,
            "test_bits_per_dim": after.mean,
            "test_bits_per_dim_stderr": after.stderr,
            "test_examples": after.num_examples,
            "lr": args.lr,
            **fit_metrics(history),
            "samples_finite": bool(all(np.isfinite(s).all() for s in samples.values())),
            "reference": "Glow paper: MNIST 1.05 bits/dim; Fashion-MNIST flows ~2.9-3.0",
        },
        started,
    )


if __name__ == "__main__":
    main()
