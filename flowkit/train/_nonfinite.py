"""Naming what went non-finite in a step, the errors that stop training, and when an epoch
has diverged."""

import math

import equinox as eqx
import jax
import numpy as np


class NonFiniteError(FloatingPointError):
    """Training stopped at ``step`` because its loss or gradients were not finite.

    Args:
        message: what went non-finite, one line.
        step: the step (1-based), kept as ``self.step``.
    """

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


def parameter_paths(model, filter_spec) -> list[str]:
    """Names of the trainable arrays, in the order of the step's ``grads_finite``."""
    trainable = eqx.filter(model, filter_spec(model))
    return [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(trainable)]


def nonfinite_message(step: int, metrics: dict, paths: list[str]) -> str:
    """``"step 17: non-finite loss (nan) and gradients of 2 of 12 parameter arrays (...)"``."""
    parts = []
    loss = float(metrics["loss"])
    if not math.isfinite(loss):
        parts.append(f"non-finite loss ({loss})")
    finite = np.asarray(metrics["grads_finite"])
    bad = [p for p, ok in zip(paths, finite, strict=False) if not ok]
    if bad:
        names = ", ".join(bad[:3]) + (", ..." if len(bad) > 3 else "")
        parts.append(f"non-finite gradients in {len(bad)} of {len(paths)} parameter arrays")
        parts[-1] += f" ({names})"
    return f"step {step}: " + (" and ".join(parts) or "non-finite update")


class DivergenceError(FloatingPointError):
    """Training stopped because most steps of an epoch were skipped or its loss exploded."""


# An epoch diverged when more than this share of its steps were skipped as non-finite...
MAX_SKIPPED_SHARE = 0.5
# ...or when its mean training loss rose above the first step's loss by this many times
# max(1, |first loss|) (a loss of 2e24 after starting near 3 nats, say).
MAX_LOSS_GROWTH = 1e3


def divergence(epoch: int, losses: list[float], skipped: int, steps: int, first: float | None):
    """The one-line reason epoch ``epoch`` diverged, or None when it did not.

    Args:
        epoch: the epoch (1-based).
        losses: the losses of its finite steps.
        skipped: how many of its ``steps`` steps were skipped.
        first: the run's first finite step loss (None before any).
    """
    if steps and skipped > MAX_SKIPPED_SHARE * steps:
        return (
            f"training diverged: {skipped} of {steps} steps of epoch {epoch} had a non-finite "
            "loss or gradient and were skipped"
        )
    if losses and first is not None:
        mean = float(np.mean(losses))
        if not math.isfinite(mean) or mean > first + MAX_LOSS_GROWTH * max(1.0, abs(first)):
            return (
                f"training diverged: the mean training loss of epoch {epoch} is {mean:.4g}, "
                f"up from {first:.4g} at the first step"
            )
    return None
