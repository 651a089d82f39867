"""``flowkit train``: fit a flow with validation and early stopping (``flowkit.fit``), then
write the run's figures and metrics."""

import argparse
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np

import flowkit as fk
from flowkit._engine._modes import MEMORY_MODES
from flowkit.data import DATASETS, Loader
from flowkit.train import NLL, ON_NONFINITE, PARALLEL_MODES, BitsPerDim, Parallel, RunDir, Stopping

from ._data import training_data
from ._errors import UserError, choice_error
from ._figures import (
    TEMPERATURES,
    density_figure,
    draw,
    is_image,
    loss_figure,
    samples_figure,
    temperature_figure,
)
from ._models import (
    IMAGE_MODELS,
    MODELS,
    build_model,
    model_event_shape,
    parse_unroll,
    recipe,
)
from ._run_files import RUN_INFO, read_run_info, write_figure, write_json

PARALLEL = PARALLEL_MODES
MEMORY = MEMORY_MODES
# Settings a resumed run must share with the run it continues.
RESUME_KEYS = (
    "model",
    "data",
    "batch_size",
    "lr",
    "seed",
    "val_fraction",
    "width",
    "layers",
    "noise_std",
)


class _DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` except where the default is ``None``: those options say in
    their own help what leaving them out means (e.g. the model's recipe)."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def add_train_parser(commands) -> None:
    parser = commands.add_parser(
        "train",
        help="train a flow (default: RealNVP on the embedded 8x8 digits, a minute or two on CPU)",
        description="Train a flow with a validation split and early stopping; write best and "
        "last models, checkpoints, metrics and figures to --out.",
        formatter_class=_DefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model", default="realnvp", metavar="{" + ",".join(MODELS) + "}", help="flow factory"
    )
    parser.add_argument(
        "--data",
        default="digits",
        help=f"one of {', '.join(DATASETS)}, or the path of an .npz, an IDX(.gz) file or a "
        "folder of MNIST-style IDX files",
    )
    parser.add_argument("--epochs", type=int, default=100, help="at most this many epochs")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="stop after this many steps (default: the epochs decide)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="global batch size (default: 128; 64 for glow on 16x16 images and up)",
    )
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 1e-3)")
    parser.add_argument(
        "--val-fraction", type=float, default=0.1, help="share of the train split held out"
    )
    parser.add_argument("--patience", type=int, default=10, help="epochs without improvement")
    parser.add_argument(
        "--parallel",
        default="jit",
        metavar="{" + ",".join(PARALLEL) + "}",
        help="one-device jit, pmap or sharded jit over the devices",
    )
    parser.add_argument(
        "--devices", type=int, default=None, help="devices for pmap/shard (default: all)"
    )
    parser.add_argument(
        "--memory",
        default="standard",
        metavar="{" + ",".join(MEMORY) + "}",
        help="backprop: store activations, rematerialise, or rebuild them by inversion",
    )
    parser.add_argument(
        "--width",
        type=int,
        default=None,
        help="the factory's width: hidden units (channels); default: the factory's (64 for "
        "glow on 16x16 images and up)",
    )
    parser.add_argument(
        "--depth",
        type=int,
        default=None,
        help="the factory's depth: conditioner hidden layers (residual blocks; tarflow: "
        "transformer layers per block); default: the factory's (0 for glow on 16x16 images "
        "and up)",
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=None,
        help="the factory's num_layers (layers_per_scale for image models, num_blocks for "
        "tarflow); default: the factory's (8 for glow on 16x16 images and up)",
    )
    parser.add_argument(
        "--unroll",
        type=parse_unroll,
        default="auto",
        help="layers per loop iteration of the model's stacks: auto (per backend and layer "
        "kind: no loop for conv stacks of up to 8 layers on CPU), full (no loop), or a "
        "positive int (1: scan)",
    )
    parser.add_argument(
        "--noise-std",
        type=float,
        default=0.0,
        help="train on the data plus N(0, noise_std^2) noise, TarFlow's recipe (e.g. 0.05)",
    )
    parser.add_argument("--seed", type=int, default=0, help="model, split, shuffle and noise")
    parser.add_argument(
        "--out", type=Path, default=None, help="run directory (default: runs/DATA-MODEL)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the run --out holds and start a new one (without it, or --resume, an "
        "existing run is refused)",
    )
    parser.add_argument(
        "--on-nonfinite",
        default="skip",
        choices=ON_NONFINITE,
        help="a step with a non-finite loss or gradient: skip its update (summarised per "
        "epoch; a run that mostly skips stops) or stop the run",
    )
    parser.add_argument(
        "--checkpoint-every", type=int, default=500, help="steps between checkpoints"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(run=run_train)


def _check_args(args: argparse.Namespace) -> None:
    for name, valid in (("model", MODELS), ("parallel", PARALLEL), ("memory", MEMORY)):
        if getattr(args, name) not in valid:
            raise choice_error(name, getattr(args, name), valid)
    for flag in ("epochs", "batch_size", "patience", "checkpoint_every", "steps"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be >= 1; got {value}")
    if args.lr is not None and args.lr <= 0:
        raise UserError(f"--lr must be > 0; got {args.lr}")
    if args.resume and args.overwrite:
        raise UserError("--resume continues the run in --out, --overwrite deletes it; pick one")
    available = jax.local_device_count() if args.parallel == "pmap" else jax.device_count()
    devices = 1 if args.parallel == "jit" else (args.devices or available)
    if args.parallel == "jit" and args.devices not in (None, 1):
        raise UserError("--devices needs --parallel pmap or shard; jit runs on one device")
    if args.parallel == "pmap" and devices != available:
        raise UserError(
            f"--parallel pmap runs on all {available} local devices; got --devices {devices} "
            "(use --parallel shard for a subset)"
        )
    if not 1 <= devices <= available:
        raise UserError(f"--devices must be in 1..{available}; got {devices}")
    args.devices = devices


def _apply_recipe(args: argparse.Namespace, data_shape: tuple[int, ...], rows: int) -> None:
    """Fill the options left out with the model's recipe for this data; check the batch
    against the devices and the ``rows`` training examples."""
    for name, value in recipe(args.model, data_shape).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.batch_size > rows:
        raise UserError(
            f"--batch-size {args.batch_size} is larger than the {rows} training examples; "
            f"pass --batch-size {rows} or less"
        )
    if args.batch_size % args.devices:
        raise UserError(
            f"--batch-size {args.batch_size} does not split over {args.devices} devices; use "
            f"a multiple of {args.devices}"
        )


def _settings(args: argparse.Namespace, data_shape, num_levels) -> dict:
    return {
        "model": args.model,
        "data": str(args.data),
        "data_shape": list(data_shape),
        "num_levels": num_levels,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "val_fraction": args.val_fraction,
        "width": args.width,
        "depth": args.depth,
        "layers": args.layers,
        "epochs": args.epochs,
        "steps": args.steps,
        "patience": args.patience,
        "parallel": args.parallel,
        "devices": args.devices,
        "memory": args.memory,
        "unroll": args.unroll,
        "noise_std": args.noise_std,
    }


def _check_resume(out: Path, settings: dict) -> None:
    saved = read_run_info(out)
    if saved is None:
        raise UserError(f"--resume: {out} holds no run of flowkit train ({RUN_INFO} missing)")
    changed = [
        f"{k} {saved.get(k)!r} -> {settings[k]!r}"
        for k in RESUME_KEYS
        if saved.get(k) != settings[k]
    ]
    if changed:
        raise UserError(f"--resume with other settings than the run in {out}: {'; '.join(changed)}")


def _first_batch_init(flow, loader: Loader):
    """``flow`` with its ActNorm layers initialised on the loader's first batch (as the
    steps see it: dequantized into [0, 1))."""
    iterator = loader.iterator()
    try:
        x = next(iter(iterator))["x"]
    finally:
        if hasattr(iterator, "close"):
            iterator.close()
    return fk.data_init(flow, jax.numpy.asarray(x))


def _training(args: argparse.Namespace, out: Path, settings: dict, num_levels) -> dict:
    """The objects ``fk.fit`` composes, built from the command line."""
    noise = args.noise_std
    loss = NLL(noise_std=noise) if num_levels is None else BitsPerDim(num_levels, noise)
    return dict(
        loss=loss,
        optimizer=lambda steps: fk.train.default_optimizer(steps, learning_rate=args.lr),
        stopping=Stopping(epochs=args.epochs, patience=args.patience, max_steps=args.steps),
        run=RunDir(
            out,
            resume=args.resume,
            overwrite=args.overwrite,
            checkpoint_every=args.checkpoint_every,
            metadata=settings,
        ),
        parallel=Parallel(args.parallel, args.devices),
        on_nonfinite=args.on_nonfinite,
    )


def run_train(args: argparse.Namespace) -> None:
    _check_args(args)
    out = args.out or Path("runs") / f"{Path(str(args.data)).stem}-{args.model}"
    lead = jax.process_index() == 0
    say = print if lead and not args.quiet else (lambda *a, **k: None)
    started = time.perf_counter()
    key = jax.random.key(args.seed)
    k_model, k_split, k_fit, k_sample = jax.random.split(key, 4)
    data = training_data(
        args.data, lambda shape: model_event_shape(args.model, shape), args.val_fraction, k_split
    )
    model_shape = data.train.event_shape
    _apply_recipe(args, tuple(model_shape), len(data.train))
    settings = _settings(args, data.data_shape, data.train.num_levels)
    training = _training(args, out, settings, data.train.num_levels)
    if args.resume:
        _check_resume(out, settings)
    training["run"].open()  # refuses a file, or a run without --resume/--overwrite
    flow = build_model(
        k_model,
        args.model,
        model_shape,
        width=args.width,
        depth=args.depth,
        num_layers=args.layers,
        unroll=args.unroll,
    )
    flow = fk.with_memory_mode(flow, args.memory)
    loader = Loader(data.train, batch_size=args.batch_size, seed=args.seed)
    if args.model in IMAGE_MODELS:  # ActNorm starts from a batch's statistics
        flow = _first_batch_init(flow, loader)
    if lead:
        write_json(out / RUN_INFO, settings)
    n_val = 0 if data.val is None else len(data.val)
    n_test = "no" if data.test is None else len(data.test)
    say(
        f"flowkit train: {args.model} ({fk.count_parameters(flow):,} parameters) on "
        f"{args.data} {data.data_shape} ({len(data.train)} train / {n_val} validation / "
        f"{n_test} test), {args.parallel} on {args.devices} device(s); run "
        f"directory {out}",
        file=sys.stderr,
        flush=True,
    )
    validation = 0 if data.val is None else data.val
    best, history = fk.fit(
        k_fit, flow, loader, validation=validation, progress=lead and not args.quiet, **training
    )
    if not lead:
        return
    metrics = _report(out, best, history, data, settings, k_sample)
    metrics["wall_seconds"] = round(time.perf_counter() - started, 1)
    write_json(out / "metrics.json", metrics)
    test = metrics["test"]
    scored = (
        f"test {test['mean']:.4f} +/- {test['stderr']:.4f} {history.metric}"
        if test is not None
        else "no test split (score a file with: flowkit eval RUN --data FILE)"
    )
    say(
        f"best epoch {history.best_epoch} of {history.epochs}: validation "
        f"{history.best_val_loss:.4f} {history.metric}, {scored}; wall time "
        f"{metrics['wall_seconds']} s; wrote {out}",
        file=sys.stderr,
    )


def _report(out: Path, best, history, data, settings: dict, key) -> dict:
    """Figures of the best model and the run's metrics (test evaluation included)."""
    from flowkit.train import read_metrics

    test = None if data.test is None else fk.evaluate(best, data.test)
    image = is_image(settings)
    sample_t = 0.7 if image else 1.0
    rows = TEMPERATURES if image else ()
    # one compiled draw: the samples at sample_t, then 8 per temperature row (images)
    num = 64 if image else 500
    temperatures = np.concatenate([np.full(num, sample_t), np.repeat(rows, 8)])
    samples = draw(best, key, temperatures)

    def samples_at(path):
        return samples_figure(
            path, best, key, settings, num=num, temperature=sample_t, samples=samples[:num]
        )

    figures = [write_figure(out / "samples.png", samples_at)]
    if image:
        rows_at = lambda path: temperature_figure(path, samples[num:], settings)  # noqa: E731
        figures.append(write_figure(out / "temperatures.png", rows_at))
    elif tuple(best.shape) == (2,):
        # the held-out points the figure shows: the test split, else validation, else train
        points = next(d for d in (data.test, data.val, data.train) if d is not None).x
        density_at = lambda path: density_figure(path, best, points, samples)  # noqa: E731
        figures.append(write_figure(out / "density.png", density_at))
    records = read_metrics(out / "metrics.jsonl")
    losses_at = lambda path: loss_figure(path, records, history.to_dict(), history.metric)  # noqa: E731
    figures.append(write_figure(out / "loss.png", losses_at))
    history_dict = history.to_dict()
    return {
        **settings,
        "metric": history.metric,
        "best_epoch": history.best_epoch,
        "epochs_run": history.epochs,
        "stopped_early": history.stopped_early,
        "steps_run": history.steps,
        "skipped_steps": history.skipped_steps,
        "val_best": _finite(history.best_val_loss),
        "val_initial": _finite(history.initial_val_loss),
        "val_per_epoch": [_finite(v) for v in history_dict["val_loss"]],
        "test": None
        if test is None
        else {k: _finite(v) if isinstance(v, float) else v for k, v in test.to_dict().items()},
        "train_seconds": round(history.seconds, 1),
        "figures": [p.name for p in figures],
    }


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)
