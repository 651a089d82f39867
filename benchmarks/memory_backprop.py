"""Memory of a training step against depth: standard, remat and invertible backprop.

For RealNVP on vectors and Glow on small images, at each depth and in each mode:

* memory from XLA's compiled memory analysis (``jax.jit(f).lower(...).compile()
  .memory_analysis()``): ``temp_size_in_bytes`` (buffers live inside the program, the
  stored activations among them) and the peak (temp + arguments + outputs), for the
  gradient (``value_and_grad`` of the mean NLL: loss and parameter gradients out) and for a
  whole Adam step (gradient, optimiser update and new parameters);
* the Adam step's time: median of ``--repeats`` timed calls after one warm-up, every mode in
  the same run, after checking the step's loss is finite and equal across modes;
* the float32 gradient's relative error against standard autodiff (``||g - g_std|| /
  ||g_std||`` over all parameters) on random parameters, for the ``--error-depths``.

Writes ``memory_backprop.json`` and ``memory_backprop.png`` (memory against depth, one line
per mode) under ``--out``.

    python benchmarks/memory_backprop.py                  # RealNVP D=784 and Glow 28x28
    python benchmarks/memory_backprop.py --models realnvp --depths 4 8 --repeats 3
    python benchmarks/memory_backprop.py --models glow --grad-only --out /tmp/glow
    python benchmarks/memory_backprop.py --merge /tmp/a/memory_backprop.json /tmp/glow/...
"""

import argparse
import json
import os
import platform
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import flowkit as fk

MODES = ("standard", "remat", "invertible")
MIB = 2**20


def build(model: str, depth: int, args, memory: str = "standard"):
    """The flow and a batch of data for ``model`` at ``depth`` (coupling layers for RealNVP,
    Glow steps per scale for Glow)."""
    key = jax.random.key(0)
    if model == "realnvp":
        flow = fk.realnvp(key, dim=args.dim, num_layers=depth, width=args.width, depth=2)
        x = jax.random.normal(jax.random.key(1), (args.batch, args.dim))
    else:
        shape = (args.image, args.image, 1)
        flow = fk.glow(
            key,
            image_shape=shape,
            num_scales=2,
            layers_per_scale=depth,
            width=args.channels,
        )
        x = jax.random.uniform(jax.random.key(1), (args.glow_batch,) + shape, minval=0.02)
        x = jnp.minimum(x, 0.98)
    return fk.with_memory_mode(flow, memory), x


def randomize(flow, scale: float, seed: int = 2):
    """Gaussian noise of size ``scale`` on every trainable leaf (numpy draws): fresh
    couplings are the identity, which any mode rebuilds exactly."""
    params, static = eqx.partition(flow, fk.flows.trainable_filter(flow))
    rng = np.random.default_rng(seed)
    noisy = jax.tree_util.tree_map(
        lambda a: a + jnp.asarray(scale * rng.standard_normal(a.shape), a.dtype), params
    )
    return eqx.combine(noisy, static)


def programs(flow, x):
    """The jitted gradient and Adam step, and their arguments (parameters apart from the
    static part, so the mode's wrapper lives in the static part)."""
    params, static = eqx.partition(flow, fk.flows.trainable_filter(flow))
    optimizer = optax.adam(1e-4)
    opt_state = optimizer.init(params)

    def loss(p, x):
        return -jnp.mean(eqx.combine(p, static).log_prob(x))

    def step(p, opt_state, x):
        value, grads = jax.value_and_grad(loss)(p, x)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, value

    grad = jax.jit(jax.value_and_grad(loss))
    return grad, jax.jit(step), params, opt_state


def memory_of(fn, *args) -> dict:
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    seconds = time.perf_counter() - start
    stats = compiled.memory_analysis()
    temp = stats.temp_size_in_bytes
    peak = getattr(stats, "peak_memory_in_bytes", 0) or (
        temp + stats.argument_size_in_bytes + stats.output_size_in_bytes
    )
    return {"temp_mib": temp / MIB, "peak_mib": peak / MIB, "compile_s": seconds}, compiled


def time_steps(steps: dict, repeats: int) -> tuple[dict, dict]:
    """Median seconds per call of each compiled step, the modes interleaved call by call (so
    a change in machine load hits every mode alike), after a warm-up that checks the loss."""
    losses, times = {}, {mode: [] for mode in steps}
    for mode, (compiled, args) in steps.items():
        out = jax.block_until_ready(compiled(*args))
        losses[mode] = float(out[2] if len(out) == 3 else out[0])  # step: (p, state, loss)
        assert np.isfinite(losses[mode]), (mode, losses[mode])
    for _ in range(repeats):
        for mode, (compiled, args) in steps.items():
            start = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            times[mode].append(time.perf_counter() - start)
    return {mode: statistics.median(t) for mode, t in times.items()}, losses


def memory_and_time(model: str, args) -> list[dict]:
    rows = []
    for depth in args.depths:
        steps, depth_rows = {}, {}
        for memory in MODES:
            flow, x = build(model, depth, args, memory)
            grad, step, params, opt_state = programs(flow, x)
            grad_mem, compiled = memory_of(grad, params, x)
            steps[memory] = (compiled, (params, x))
            if args.grad_only:  # time the gradient itself; no optimiser step compiled
                step_mem = dict.fromkeys(("temp_mib", "peak_mib"), float("nan"))
                step_mem["compile_s"] = grad_mem["compile_s"]
            else:
                step_mem, compiled = memory_of(step, params, opt_state, x)
                steps[memory] = (compiled, (params, opt_state, x))
            depth_rows[memory] = {
                "model": model,
                "depth": depth,
                "mode": memory,
                "grad_temp_mib": grad_mem["temp_mib"],
                "grad_peak_mib": grad_mem["peak_mib"],
                "step_temp_mib": step_mem["temp_mib"],
                "step_peak_mib": step_mem["peak_mib"],
                "compile_s": step_mem["compile_s"],
                "timed": "gradient" if args.grad_only else "adam step",
            }
        seconds, losses = time_steps(steps, args.repeats)
        np.testing.assert_allclose(losses["invertible"], losses["standard"], rtol=1e-4)
        np.testing.assert_allclose(losses["remat"], losses["standard"], rtol=1e-4)
        for memory, row in depth_rows.items():
            row.update(
                step_s=seconds[memory],
                time_vs_standard=seconds[memory] / seconds["standard"],
                loss=losses[memory],
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def _relative_error(got, want) -> float:
    num = sum(float(jnp.sum((g - w) ** 2)) for g, w in zip(got, want, strict=True))
    return (num / sum(float(jnp.sum(w**2)) for w in want)) ** 0.5


def gradient_fn(static):
    """``grads(params, x, memory, anchor_every)``: the NLL's parameter gradient leaves."""

    def grads(p, x, memory, anchor_every=None):
        def loss(q):
            flow = fk.with_memory_mode(eqx.combine(q, static), memory, anchor_every=anchor_every)
            return -jnp.mean(flow.log_prob(x))

        return jax.tree_util.tree_leaves(jax.grad(loss)(p))

    return jax.jit(grads, static_argnums=(2, 3))


def gradient_errors(model: str, args) -> list[dict]:
    """float32 relative gradient error of remat and invertible against standard autodiff,
    with and without re-anchoring; the float32 standard gradient's own error against
    float64 standard autodiff gives the scale of float32 round-off."""
    rows = []
    scale = args.noise if model == "realnvp" else args.glow_noise
    for depth in args.error_depths:
        flow, x = build(model, depth, args)
        flow = randomize(flow, scale)
        if model == "glow":
            flow = fk.data_init(flow, x)  # ActNorm from the batch, as training starts
        params, static = eqx.partition(flow, fk.flows.trainable_filter(flow))

        grads = gradient_fn(static)
        nll = float(-jnp.mean(flow.log_prob(x))) / int(np.prod(x.shape[1:]))
        want = grads(params, x, "standard")
        row = {"model": model, "depth": depth, "noise": scale, "nll_per_dim": nll}
        row["invertible"] = _relative_error(grads(params, x, "invertible"), want)
        nan = float("nan")
        if not args.grad_only:  # fewer compilations with --grad-only
            row["remat"] = _relative_error(grads(params, x, "remat"), want)
            row["invertible_anchor_4"] = _relative_error(grads(params, x, "invertible", 4), want)
        row.setdefault("remat", nan)
        row.setdefault("invertible_anchor_4", nan)
        with jax.enable_x64(True):
            cast = lambda t: jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), t)  # noqa: E731
            exact = grads(cast(params), cast(x), "standard")
        row["standard_vs_float64"] = _relative_error(want, [w.astype(jnp.float32) for w in exact])
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows}, reverse=True)
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for mode, marker in zip(MODES, "osD", strict=True):
            sel = sorted((r for r in rows if r["model"] == model and r["mode"] == mode),
                         key=lambda r: r["depth"])  # fmt: skip
            depths = [r["depth"] for r in sel]
            ax.plot(depths, [r["grad_temp_mib"] for r in sel], marker=marker, label=mode)
        ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.set_xlabel("coupling layers" if model == "realnvp" else "Glow steps per scale")
        ax.set_ylabel("gradient temp memory (MiB)")
        ax.set_title(f"{model}: memory of backprop against depth")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(result: dict) -> str:
    """The memory table (one row per model and depth), the depth ratios and the errors."""
    rows, lines = result["memory"], []
    lines.append(
        "| model | depth | standard MiB | remat MiB | invertible MiB "
        "| step MiB std / remat / inv | time remat | time invertible |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    models = sorted({r["model"] for r in rows}, reverse=True)
    for model in models:
        for depth in sorted({r["depth"] for r in rows if r["model"] == model}):
            by = {r["mode"]: r for r in rows if (r["model"], r["depth"]) == (model, depth)}
            mib = " | ".join(f"{by[m]['grad_temp_mib']:.1f}" for m in MODES)
            step = " / ".join(f"{by[m]['step_temp_mib']:.1f}" for m in MODES)
            times = " | ".join(f"{by[m]['time_vs_standard']:.2f}x" for m in MODES[1:])
            lines.append(f"| {model} | {depth} | {mib} | {step} | {times} |")
    lines.append("")
    lines.append("| model | mode | gradient MiB depth-max / depth-min | step time vs standard |")
    lines.append("|---|---|---|---|")
    for model in models:
        sel = [r for r in rows if r["model"] == model]
        lo, hi = min(r["depth"] for r in sel), max(r["depth"] for r in sel)
        for mode in MODES:
            by = {r["depth"]: r for r in sel if r["mode"] == mode}
            ratio = by[hi]["grad_temp_mib"] / by[lo]["grad_temp_mib"]
            times = sorted(r["time_vs_standard"] for r in by.values())
            span = f"{times[0]:.2f}x to {times[-1]:.2f}x"
            lines.append(f"| {model} | {mode} | {ratio:.2f} ({hi} / {lo}) | {span} |")
    lines.append("")
    lines.append(
        "| model | depth | NLL/dim | remat | invertible | invertible, anchor_every=4 "
        "| standard f32 vs f64 |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for e in result["gradient_errors"]:
        lines.append(
            f"| {e['model']} | {e['depth']} | {e['nll_per_dim']:.2f} | {e['remat']:.1e} "
            f"| {e['invertible']:.1e} | {e['invertible_anchor_4']:.1e} "
            f"| {e['standard_vs_float64']:.1e} |"
        )
    return "\n".join(lines)


def write(result: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "memory_backprop.json"), "w") as f:
        json.dump(result, f, indent=1)
    plot(result["memory"], os.path.join(out, "memory_backprop.png"))
    print(markdown(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["realnvp", "glow"])
    parser.add_argument("--depths", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--error-depths", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--image", type=int, default=28)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--glow-batch", type=int, default=16)
    parser.add_argument("--noise", type=float, default=0.02, help="RealNVP parameter noise")
    parser.add_argument("--glow-noise", type=float, default=0.05, help="Glow parameter noise")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--merge", nargs="+", help="memory_backprop.json files to combine")
    parser.add_argument(
        "--grad-only",
        action="store_true",
        help="compile and time the gradient only (no Adam step; errors of invertible only): "
        "halves the compilations, for Glow on a loaded CPU",
    )
    args = parser.parse_args()

    if args.merge:  # results of separate runs (e.g. one per model) into one file and plot
        parts = []
        for path in args.merge:
            with open(path) as f:
                parts.append(json.load(f))
        result = dict(parts[0], memory=[], gradient_errors=[], merged_from=args.merge)
        for part in parts:
            result["memory"] += part["memory"]
            result["gradient_errors"] += part["gradient_errors"]
        write(result, args.out)
        return
    rows, errors = [], []
    for model in args.models:
        rows += memory_and_time(model, args)
        errors += gradient_errors(model, args)
    result = {
        "config": vars(args),
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
        "jax": jax.__version__,
        "machine": platform.machine(),
        "memory": rows,
        "gradient_errors": errors,
    }
    write(result, args.out)


if __name__ == "__main__":
    main()
