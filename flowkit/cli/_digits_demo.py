"""The embedded default job: RealNVP on scikit-learn's 8x8 digits, about a minute on CPU.

Self-contained (numpy batches, one jitted optax step) so that a fresh install can train and
draw something with no data download.
"""

import json
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits

import flowkit as fk
from flowkit import plots

DIGIT_LEVELS = 17  # load_digits pixels are integers 0..16


def load_digit_pixels() -> tuple[np.ndarray, np.ndarray]:
    """Train/test split (1500 / 297) of the digits as ``(n, 64)`` integer pixels 0..16."""
    pixels = np.asarray(load_digits(return_X_y=True)[0], np.int32)
    order = np.random.default_rng(0).permutation(len(pixels))
    return pixels[order[:1500]], pixels[order[1500:]]


def run_digits_demo(out: Path, *, steps: int = 1500, batch_size: int = 128, seed: int = 0) -> dict:
    """Train, then write ``samples.png``, ``loss.png`` and ``metrics.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    train, test = load_digit_pixels()
    key = jax.random.key(seed)
    flow = fk.realnvp(key=key, dim=64, num_layers=8, width=256, depth=2)
    warmup = min(100, steps // 2)
    schedule = optax.warmup_cosine_decay_schedule(0.0, 1e-3, warmup, max(steps, warmup + 1), 1e-5)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
    params, static = eqx.partition(flow, fk.trainable_filter(flow))
    opt_state = optimizer.init(params)

    def bpd(p, x):
        return fk.bits_per_dim(eqx.combine(p, static).log_prob(x), 64, num_levels=DIGIT_LEVELS)

    @jax.jit
    def step(params, opt_state, pixels, key):
        x = fk.dequantize(key, pixels, num_levels=DIGIT_LEVELS)
        loss, grads = jax.value_and_grad(lambda p: bpd(p, x).mean())(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    losses, start = [], time.perf_counter()
    for i in range(steps):
        batch = train[rng.integers(0, len(train), batch_size)]
        params, opt_state, loss = step(params, opt_state, batch, jax.random.fold_in(key, i))
        losses.append(float(loss))
        if i % 250 == 0 or i == steps - 1:
            print(f"step {i:5d}  train bits/dim {losses[-1]:.3f}", flush=True)
    seconds = time.perf_counter() - start
    trained = eqx.combine(params, static)
    test_x = fk.dequantize(jax.random.key(seed + 1), test, num_levels=DIGIT_LEVELS)
    test_bpd = float(jnp.mean(bpd(params, test_x)))
    samples = trained.sample(jax.random.key(seed + 2), (64,), temperature=0.8)
    plots.image_grid(
        out / "samples.png",
        np.clip(np.asarray(samples), 0, 1),
        image_shape=(8, 8, 1),
        title="RealNVP samples (T=0.8)",
    )
    plots.training_curve(out / "loss.png", range(steps), losses, ylabel="train bits/dim")
    metrics = {
        "model": "realnvp",
        "data": "digits",
        "steps": steps,
        "batch_size": batch_size,
        "test_bits_per_dim": test_bpd,
        "train_seconds": round(seconds, 1),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"test bits/dim {test_bpd:.3f}; wrote {out}/samples.png, loss.png, metrics.json")
    return metrics
