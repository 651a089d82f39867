"""Naming what went non-finite in a step, and the error that stops training."""

import math

import equinox as eqx
import jax
import numpy as np


class NonFiniteError(FloatingPointError):
    """Training stopped at ``step`` because its loss or gradients were not finite."""

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
