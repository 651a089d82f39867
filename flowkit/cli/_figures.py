"""The figures of the command line: sample grids, temperature rows, 2-D densities, curves."""

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from flowkit import plots

TEMPERATURES = (0.5, 0.7, 0.9, 1.0)


@eqx.filter_jit
def _sample(flow, key, temperatures):
    # Flow.sample's tempering (z -> mean + T (z - mean)) with one temperature per sample, so
    # that one compiled program draws a whole figure.
    base = flow.base
    z = base.sample(seed=key, sample_shape=temperatures.shape)
    mean = base.mean()
    scale = temperatures.reshape(temperatures.shape + (1,) * (z.ndim - 1))
    return jax.vmap(flow.bijector.forward)(mean + scale * (z - mean))


@eqx.filter_jit
def _log_prob(flow, points):
    return flow.log_prob(points)


def log_density(flow):
    """``points (n, 2) -> log p (n,)`` as numpy, compiled once per flow structure."""
    flow = eqx.nn.inference_mode(flow)
    return lambda points: np.asarray(_log_prob(flow, jnp.asarray(points)))


def draw(flow, key, temperatures) -> np.ndarray:
    """One sample per entry of ``temperatures`` (compiled once per flow and count)."""
    return np.asarray(_sample(eqx.nn.inference_mode(flow), key, jnp.asarray(temperatures)))


def is_image(info: dict) -> bool:
    """Whether the run's data are images (pixels with levels, events ``(H, W, C)``)."""
    return info.get("num_levels") is not None and len(info.get("data_shape") or ()) == 3


def samples_figure(
    path: Path, flow, key, info: dict, *, num: int, temperature: float, samples=None
) -> Path:
    """A grid of samples (images), samples over the density (2-D), or an ``.npy`` file;
    ``samples`` (drawn at ``temperature``) or ``num`` new ones."""
    if samples is None:
        samples = draw(flow, key, np.full(num, temperature))
    title = f"{info.get('model', 'flow')} samples (T={temperature:g})"
    if is_image(info):
        images = samples.reshape((num, *info["data_shape"]))
        return plots.image_grid(path, np.clip(images, 0, 1), title=title)
    if samples.shape[1:] == (2,):
        panel = (title, log_density(flow), samples)
        return plots.density_contours(path, [panel])
    path = path.with_suffix(".npy")
    np.save(path, samples)
    return path


def temperature_figure(path: Path, samples: np.ndarray, info: dict) -> Path:
    """One row of image samples per temperature (Glow's figure); ``samples`` holds
    ``per_row`` samples at each of :data:`TEMPERATURES`, in order."""
    rows = np.split(samples.reshape((-1, *info["data_shape"])), len(TEMPERATURES))
    return plots.temperature_grid(
        path, {t: np.clip(x, 0, 1) for t, x in zip(TEMPERATURES, rows, strict=True)}
    )


def density_figure(path: Path, flow, data: np.ndarray, samples: np.ndarray) -> Path:
    """The model's density against held-out data, and against its own samples."""
    log_prob = log_density(flow)
    panels = [("density vs test data", log_prob, data), ("density vs samples", log_prob, samples)]
    return plots.density_contours(path, panels)


def loss_figure(path: Path, records: list[dict], history: dict, metric: str) -> Path:
    """Training loss per step (smoothed) with the validation loss after every epoch."""
    steps = [r["step"] for r in records]
    losses = [float(r["loss"]) if not r["skipped"] else np.nan for r in records]
    ends: dict[int, int] = {}
    for r in records:
        ends[r["epoch"]] = max(ends.get(r["epoch"], 0), r["step"])
    val = [float(v) for v in history["val_loss"]]
    points = [(ends[e], v) for e, v in enumerate(val, start=1) if e in ends]
    validation = ([p[0] for p in points], [p[1] for p in points]) if points else None
    return plots.training_curve(
        path, steps, losses, ylabel=f"train {metric}", validation=validation
    )
