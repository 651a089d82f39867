"""Training-step speed and compile time of the image flows on 28x28x1, by loop policy and depth.

For Glow and multi-scale RealNVP at several steps per scale, one training step as
``fk.fit`` runs it (``flowkit.train.make_step``: clipped Adam on bits/dim of dequantized
uint8 pixels) is timed with its stacks scanned (``unroll=1``), unrolled (``True``) and by the
default policy (``"auto"``): compile seconds (first call minus a step) and images/s (median
step). Then the model ``flowkit train --model glow`` builds for 28x28 data, with its
defaults, against the fastest unrolled form of that model; and, where torch and normflows
are installed (``pip install -e ".[peers]"``), normflows' Glow of the same architecture and
batch in the same run. Writes ``image_train.json``, ``image_train.md`` and
``image_train.png`` to ``--out``.

    python benchmarks/image_train.py --out benchmarks/results/image_train
    python benchmarks/image_train.py --depths 2 4 --repeats 3       # shorter
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
from matplotlib.figure import Figure

import flowkit as fk
from flowkit.train import (
    BitsPerDim,
    default_optimizer,
    init_opt_state,
    make_step,
    read_metrics,
)

POLICIES = {"scan": 1, "unrolled": True, "auto": "auto"}
SHAPE = (28, 28, 1)


def _flowkit_factory(model: str, depth: int, width: int, unroll, peer_like: bool = False):
    if model == "glow":
        extra = dict(split_prior=False, learn_top=False) if peer_like else {}
        return fk.glow(
            jax.random.key(0), image_shape=SHAPE, layers_per_scale=depth, width=width,
            depth=1, unroll=unroll, **extra,
        )  # fmt: skip
    return fk.realnvp_multiscale(
        jax.random.key(0), image_shape=SHAPE, layers_per_scale=depth, final_layers=depth,
        width=width, depth=1, unroll=unroll,
    )  # fmt: skip


def time_flowkit(flow: fk.Flow, pixels: np.ndarray, repeats: int) -> dict:
    """Compile seconds and images/s of ``make_step`` (what ``fk.fit`` runs) on ``pixels``."""
    optimizer = default_optimizer(10_000)
    step = make_step(optimizer, BitsPerDim(num_levels=256))
    state = init_opt_state(optimizer, flow)
    key = jax.random.key(1)
    start = time.perf_counter()
    flow, state, metrics = jax.block_until_ready(step.update(flow, state, pixels, key))
    first = time.perf_counter() - start
    if not np.isfinite(float(metrics["loss"])):
        raise SystemExit(f"non-finite loss {metrics['loss']}")
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        flow, state, metrics = jax.block_until_ready(
            step.update(flow, state, pixels, jax.random.fold_in(key, i))
        )
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "compile_s": round(first - median, 2),
        "step_s": round(median, 4),
        "images_per_s": round(len(pixels) / median, 1),
        "parameters": fk.count_parameters(flow),
    }


def time_normflows(depth: int, width: int, batch: int, repeats: int) -> dict | None:
    """normflows' Glow (Kingma & Dhariwal's multi-scale architecture, as in its Glow example)
    at 2 scales x ``depth`` steps on 1x28x28, each coupling network 3x3 -> 3x3 -> 1x1 -> 3x3
    convolutions of ``width`` channels as flowkit's ``depth=1`` ConvResNet; Adam step on the
    forward KL of dequantized pixels. None without torch/normflows."""
    try:
        import normflows as nf  # pyright: ignore[reportMissingImports]
        import torch  # pyright: ignore[reportMissingImports]
    except ImportError:
        return None
    torch.manual_seed(0)
    levels, q0, merges, flows = 2, [], [], []
    for i in range(levels):
        channels = 2 ** (levels + 1 - i)
        blocks = []
        for _ in range(depth):
            block = nf.flows.GlowBlock(channels, width, split_mode="channel", scale=True)
            coupling = block.flows[0]
            sizes = (channels // 2, width, width, width, channels)
            coupling.param_map = nf.nets.ConvNet2d(sizes, (3, 3, 1, 3), 0.0, True)
            blocks.append(block)
        flows.append([*blocks, nf.flows.Squeeze()])
        if i > 0:
            merges.append(nf.flows.Merge())
            side = 28 // 2 ** (levels - i)
            latent = (2 ** (levels - i), side, side)
        else:
            latent = (2 ** (levels + 1), 28 // 2**levels, 28 // 2**levels)
        q0.append(nf.distributions.DiagGaussian(latent))
    model = nf.MultiscaleFlow(q0, flows, merges)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    pixels = torch.randint(0, 256, (batch, 1, 28, 28)).float()

    def step():
        x = (pixels + torch.rand_like(pixels)) / 256.0
        optimizer.zero_grad()
        loss = model.forward_kld(x)
        loss.backward()
        optimizer.step()
        return float(loss)

    start = time.perf_counter()
    loss = step()
    first = time.perf_counter() - start
    if not np.isfinite(loss):
        raise SystemExit(f"normflows: non-finite loss {loss}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "first_step_s": round(first, 2),
        "step_s": round(median, 4),
        "images_per_s": round(batch / median, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def sweep(args, pixels) -> list[dict]:
    rows = []
    for model in args.models:
        for depth in args.depths:
            for policy in args.policies:
                flow = _flowkit_factory(model, depth, args.width, POLICIES[policy])
                row = {"model": model, "depth": depth, "policy": policy}
                row.update(time_flowkit(flow, pixels, args.repeats))
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def cli_glow(args, pixels) -> list[dict]:
    """``flowkit train --model glow`` on 28x28 pixels with its defaults (``--unroll auto``)
    against the same command with the model unrolled fully and two layers per iteration:
    images/s from the run's own metrics (median over the steps after the first), compile
    seconds as the first step's time less a median step."""
    import shutil
    import subprocess
    import tempfile

    command = shutil.which("flowkit")
    if command is None:
        raise SystemExit("the flowkit command is not on PATH: pip install -e . first")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "pixels.npz"
        # enough examples for one epoch of all the steps: no validation pass in between
        train = np.concatenate([pixels] * (args.cli_steps + 2))
        np.savez(data, x=train, x_test=pixels)
        for policy in ("auto", "full", "2"):
            out = Path(tmp) / f"run-{policy}"
            subprocess.run(
                [command, "train", "--model", "glow", "--data", str(data), "--out", str(out),
                 "--steps", str(args.cli_steps), "--epochs", "1000", "--val-fraction", "0.01",
                 "--unroll", policy, "--quiet"],
                check=True,
            )  # fmt: skip
            records = read_metrics(out / "metrics.jsonl")
            info = json.loads((out / "metrics.json").read_text())
            batch = info["batch_size"]
            median = statistics.median(batch / r["examples_per_s"] for r in records[1:])
            row = {
                "model": "glow (flowkit train defaults)",
                "policy": policy,
                "compile_s": round(batch / records[0]["examples_per_s"] - median, 2),
                "step_s": round(median, 4),
                "images_per_s": round(batch / median, 1),
                **{k: info[k] for k in ("width", "depth", "layers", "batch_size", "lr")},
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def peers(args, pixels) -> list[dict]:
    rows = []
    for depth in args.peer_depths:
        flow = _flowkit_factory("glow", depth, args.width, "auto", peer_like=True)
        mine = {"library": "flowkit", "depth": depth, **time_flowkit(flow, pixels, args.repeats)}
        theirs = time_normflows(depth, args.width, len(pixels), args.repeats)
        print(json.dumps(mine), json.dumps(theirs), flush=True)
        if theirs is None:
            print("normflows/torch not installed: no peer rows", flush=True)
            return rows
        rows += [mine, {"library": "normflows", "depth": depth, **theirs}]
    return rows


def write_report(out: Path, result: dict) -> None:
    lines = [
        f"Image training steps, 28x28x1, batch {result['batch']}, width {result['width']}; "
        f"{result['machine']}.",
        "",
        "| model | steps/scale | policy | compile s | step s | images/s | vs fastest |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in sorted({r["model"] for r in result["sweep"]}):
        for depth in sorted({r["depth"] for r in result["sweep"] if r["model"] == model}):
            group = [r for r in result["sweep"] if r["model"] == model and r["depth"] == depth]
            best = max(r["images_per_s"] for r in group)
            for r in group:
                lines.append(
                    f"| {model} | {depth} | {r['policy']} | {r['compile_s']} | {r['step_s']} | "
                    f"{r['images_per_s']} | {r['images_per_s'] / best:.2f} |"
                )
    cli = result["cli_glow"]
    if cli:
        best = max(r["images_per_s"] for r in cli)
        lines += ["", "`flowkit train --model glow` defaults for 28x28:", ""]
        lines += ["| policy | compile s | images/s | vs fastest |", "|---|---|---|---|"]
        for r in cli:
            lines.append(
                f"| {r['policy']} | {r['compile_s']} | {r['images_per_s']} | "
                f"{r['images_per_s'] / best:.2f} |"
            )
    if result["peers"]:
        lines += ["", "Glow against normflows (same architecture and batch):", ""]
        lines += [
            "| steps/scale | library | parameters | step s | images/s |",
            "|---|---|---|---|---|",
        ]
        for r in result["peers"]:
            lines.append(
                f"| {r['depth']} | {r['library']} | {r['parameters']:,} | {r['step_s']} | "
                f"{r['images_per_s']} |"
            )
    (out / "image_train.md").write_text("\n".join(lines) + "\n")

    fig = Figure(figsize=(10, 4))
    speed, compile_ = fig.subplots(1, 2)
    for model in sorted({r["model"] for r in result["sweep"]}):
        for policy in POLICIES:
            rows = [r for r in result["sweep"] if r["model"] == model and r["policy"] == policy]
            if rows:
                depths = [r["depth"] for r in rows]
                label = f"{model}, {policy}"
                speed.plot(depths, [r["images_per_s"] for r in rows], "o-", label=label)
                compile_.plot(depths, [r["compile_s"] for r in rows], "o-", label=label)
    depths = sorted({r["depth"] for r in result["sweep"]})
    speed.set(xlabel="steps per scale", ylabel="images/s (training)", yscale="log")
    compile_.set(xlabel="steps per scale", ylabel="compile s")
    for axes in (speed, compile_):
        axes.set_xscale("log", base=2)
        axes.set_xticks(depths, [str(d) for d in depths])
    speed.legend(fontsize=7)
    fig.savefig(out / "image_train.png", dpi=100, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["glow", "realnvp_multiscale"])
    parser.add_argument("--depths", nargs="+", type=int, default=[2, 4, 8, 16])
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--peer-depths", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cli-steps", type=int, default=40, help="steps of each CLI run")
    parser.add_argument("--skip", nargs="*", default=[], choices=["sweep", "cli", "peers"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/image_train"))
    parser.add_argument("--replot", action="store_true", help="redraw --out's results only")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        write_report(args.out, json.loads((args.out / "image_train.json").read_text()))
        return
    pixels = np.random.default_rng(0).integers(0, 256, (args.batch, *SHAPE), dtype=np.uint8)
    machine = (
        f"{jax.default_backend()} x{jax.device_count()} ({platform.machine()}), jax "
        f"{jax.__version__}, equinox {eqx.__version__}"
    )
    result = {
        "machine": machine,
        "batch": args.batch,
        "width": args.width,
        "sweep": [] if "sweep" in args.skip else sweep(args, pixels),
        "cli_glow": [] if "cli" in args.skip else cli_glow(args, pixels),
        "peers": [] if "peers" in args.skip else peers(args, pixels),
    }
    (args.out / "image_train.json").write_text(json.dumps(result, indent=1) + "\n")
    write_report(args.out, result)
    print((args.out / "image_train.md").read_text())


if __name__ == "__main__":
    main()
