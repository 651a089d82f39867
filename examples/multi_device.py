"""The same training run three ways through ``fk.fit(parallel=...)``: one device (jit),
data-parallel ``pmap``, and sharded ``jit`` over a 1-D mesh, from the same initial model,
batches and keys. The losses
agree to float32 rounding (dequantization noise is keyed per example, so it does not
depend on the layout). On a CPU-only machine the script asks XLA for 8 CPU devices; on
GPUs or TPUs it uses the real ones.

    python examples/multi_device.py           # RealNVP 8 x 256 on the digits, 300 steps
    python examples/multi_device.py --quick   # tiny, for the tests
"""

import os
import sys

if "jax" not in sys.modules:  # before jax starts: 8 host devices where there is only a CPU
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count=8".strip()

import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from _common import output_dir, parse_args, write_metrics  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import flowkit as fk  # noqa: E402
from flowkit.data import DIGIT_LEVELS, load_dataset  # noqa: E402
from flowkit.train import read_metrics  # noqa: E402


def run(flow, x, parallel: str, run_dir, *, steps: int, batch: int, key):
    """Train with ``fk.fit(parallel=...)`` for ``steps`` steps, no validation split; return
    the step losses and the seconds per step after the first (which compiles)."""
    _, history = fk.fit(
        key,
        flow,
        x,
        loss=fk.BitsPerDim(num_levels=DIGIT_LEVELS),
        parallel=parallel,
        stopping=fk.Stopping(max_steps=steps),
        batch_size=batch,
        validation=0,
        run=fk.RunDir(run_dir, overwrite=True),
        progress=False,
    )
    times = [r["time"] for r in read_metrics(run_dir / "metrics.jsonl")]  # since the start
    per_step = (times[-1] - times[0]) / max(1, len(times) - 1)
    return np.asarray(history.step_loss), per_step


def plot(path, curves: dict, reference: np.ndarray):
    fig = Figure(figsize=(6, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    steps = np.arange(1, len(reference) + 1)
    for (name, losses), style in zip(curves.items(), ("-", "--", ":"), strict=False):
        top.plot(steps, losses, style, label=name)
        if name != "jit (1 device)":
            bottom.plot(steps, np.abs(losses - reference), style, label=f"|{name} - jit|")
    top.set_ylabel("train bits/dim")
    top.legend()
    bottom.set_yscale("symlog", linthresh=1e-8)
    bottom.set_ylabel("abs. difference")
    bottom.set_xlabel("step")
    bottom.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    out = output_dir(args, "multi_device")
    started = time.perf_counter()
    n = jax.local_device_count()
    if args.quick:
        config = dict(layers=2, width=32, steps=4, batch=8 * n)
    else:
        config = dict(layers=8, width=256, steps=300, batch=16 * n)
    x = load_dataset("digits", "train").x.reshape(-1, 64)
    key = jax.random.key(args.seed)
    k_model, k_fit = jax.random.split(key)
    flow = fk.realnvp(k_model, dim=64, num_layers=config["layers"], width=config["width"])
    common = dict(steps=config["steps"], batch=config["batch"], key=k_fit)
    jit_losses, jit_time = run(flow, x, "jit", out / "jit", **common)
    pmap_losses, pmap_time = run(flow, x, "pmap", out / "pmap", **common)
    shard_losses, shard_time = run(flow, x, "shard", out / "shard", **common)
    curves = {
        "jit (1 device)": jit_losses,
        f"pmap ({n} devices)": pmap_losses,
        f"sharded jit ({n} devices)": shard_losses,
    }
    plot(out / "losses.png", curves, jit_losses)
    pairs = {
        "pmap_vs_jit": (pmap_losses, jit_losses),
        "sharded_vs_jit": (shard_losses, jit_losses),
        "pmap_vs_sharded": (pmap_losses, shard_losses),
    }
    diff = {k: float(np.max(np.abs(a - b))) for k, (a, b) in pairs.items()}
    # rounding differences are amplified by training (chaotically, over hundreds of steps):
    # the first steps show the agreement of the steps themselves
    first = {k: float(np.max(np.abs(a[:10] - b[:10]))) for k, (a, b) in pairs.items()}
    print(f"max |loss difference| over {config['steps']} steps: {diff}")
    return write_metrics(
        out,
        {
            "example": "multi_device",
            "quick": args.quick,
            **config,
            "devices": n,
            "platform": jax.devices()[0].platform,
            "final_loss": {k: float(v[-1]) for k, v in curves.items()},
            "max_abs_loss_difference": diff,
            "max_abs_loss_difference_first_10_steps": first,
            "seconds_per_step": {"jit": jit_time, "pmap": pmap_time, "sharded": shard_time},
            "losses": {k: v.tolist() for k, v in curves.items()},
            "reference": "identical losses up to float32 reduction order (which training "
            "amplifies over many steps)",
        },
        started,
    )


if __name__ == "__main__":
    main()
