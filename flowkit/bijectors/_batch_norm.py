"""Batch normalisation as a bijector (RealNVP), with running statistics in an Equinox State.

How it fits the one-event contract: like ``eqx.nn.BatchNorm``, a layer in training mode
computes its batch statistics with collectives over a named ``jax.vmap`` axis
(``axis_name``, default ``"batch"``, the axis :class:`flowkit.Flow` maps over). The
running averages live in an ``eqx.nn.State`` (``state = eqx.nn.State(model)``) that
:func:`flowkit.flows.update_batch_norm_state` advances with a batch; in inference mode a layer
normalises with the statistics held in its ``state_index`` (bind a State into a model with
:func:`flowkit.flows.batch_norm_inference`).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array, Float, Shape
from ._base import AbstractBijector

BATCH_AXIS = "batch"
"""The vmap axis name over which training-mode batch statistics are taken."""


def normalise(x: Array, mean: Array, var: Array, log_scale: Array, shift: Array, eps: float):
    """``(x - mean) / sqrt(var + eps) * exp(log_scale) + shift`` and its per-event log-det.

    ``x`` is one event (channels last); the statistics and parameters have shape ``(C,)``.
    """
    log_std = 0.5 * jnp.log(var + eps)  # eps > 0: a constant channel still gives a finite map
    y = (x - mean) * jnp.exp(log_scale - log_std) + shift
    return y, math.prod(x.shape[:-1]) * jnp.sum(log_scale - log_std)


def event_moments(x: Array, axis_name: str | None) -> tuple[Array, Array]:
    """Per-channel mean and (biased) variance over the event's non-channel axes and, when
    ``axis_name`` is given, over the vmapped batch axis of that name."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axis=axes)
    if axis_name is not None:
        mean = jax.lax.pmean(mean, axis_name)
    var = jnp.mean((x - mean) ** 2, axis=axes)
    if axis_name is not None:
        var = jax.lax.pmean(var, axis_name)
    return mean, var


class BatchNorm(AbstractBijector):
    """``y = (x - mean) / sqrt(var + eps) * exp(log_scale) + shift`` per channel (last axis).

    Training mode (``inference=False``): ``mean``/``var`` are the statistics of the batch,
    taken over the vmapped axis ``axis_name`` and the event's other axes; call it under
    ``jax.vmap(..., axis_name=axis_name)`` (``Flow.log_prob`` does). Gradients flow through
    the statistics. The log-determinant, ``H * W * sum(log_scale - log(var + eps) / 2)``, is
    exact for each event's map with the batch statistics held at their values (the map of
    the whole batch is not invertible: it forgets the batch's shift and scale), so the
    training-mode inverse is undefined and raises.

    Inference mode (``inference=True``, e.g. via ``eqx.nn.inference_mode``): ``mean``/``var``
    are the running statistics held in ``state_index`` (never trained); an ordinary
    invertible per-channel affine map. ``momentum`` is the running averages' decay.

    Args:
        shape: the event shape, channels last, e.g. ``(H, W, C)`` or ``(C,)``.
        momentum: the decay of the running mean and variance, in ``[0, 1)``.
        eps: added to the variance before its square root; ``> 0``.
        axis_name: the name of the vmapped batch axis the training-mode statistics are
            taken over.
        inference: start in inference mode (running statistics) instead of training mode.

    Raises:
        ValueError: if ``shape`` is ``()``, ``momentum`` is outside ``[0, 1)`` or
            ``eps <= 0``.
    """

    log_scale: Float[Array, " C"]
    shift: Float[Array, " C"]
    state_index: eqx.nn.StateIndex
    inference: bool
    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True)
    momentum: float = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    axis_name: str = eqx.field(static=True)

    def __init__(
        self,
        shape: Shape,
        *,
        momentum: float = 0.99,
        eps: float = 1e-5,
        axis_name: str = BATCH_AXIS,
        inference: bool = False,
    ):
        shape = tuple(shape)
        if len(shape) == 0:
            raise ValueError("BatchNorm: expected an event with a channel axis; got shape ().")
        if not (0.0 <= momentum < 1.0 and eps > 0.0):
            raise ValueError(
                f"BatchNorm: need 0 <= momentum < 1 and eps > 0; got {momentum=}, {eps=}."
            )
        c = shape[-1]
        self.log_scale = jnp.zeros(c)
        self.shift = jnp.zeros(c)
        self.state_index = eqx.nn.StateIndex((jnp.zeros(c), jnp.ones(c)))
        self.inference = inference
        self.shape = shape
        self.cond_shape = None
        self.momentum = momentum
        self.eps = eps
        self.axis_name = axis_name

    def has_exact_inverse(self) -> bool:
        """Inference mode is a fixed affine map; training mode has no inverse at all."""
        return bool(self.inference)

    def running_statistics(self) -> tuple[Array, Array]:
        """The (mean, var) used in inference mode (held out of gradients)."""
        stats = self.state_index.init
        if not isinstance(stats, tuple):
            raise ValueError(
                "BatchNorm in inference mode: this layer holds no statistics (the model came "
                "from eqx.nn.make_with_state, which moves them into the State). Bind them with "
                "flowkit.flows.batch_norm_inference(model, state)."
            )
        return jax.lax.stop_gradient(stats[0]), jax.lax.stop_gradient(stats[1])

    def _batch_moments(self, x: Array) -> tuple[Array, Array]:
        try:
            jax.lax.axis_index(self.axis_name)
        except NameError:
            raise ValueError(
                f"BatchNorm in training mode needs a batch: call it under jax.vmap(..., "
                f"axis_name={self.axis_name!r}) (Flow.log_prob does this), or switch to "
                "inference mode (eqx.nn.inference_mode(model)) to use the running statistics."
            ) from None
        return event_moments(x, self.axis_name)

    def forward_and_log_det(self, x, condition):
        if self.inference:
            mean, var = self.running_statistics()
        else:
            mean, var = self._batch_moments(x)
        dtype = x.dtype
        y, log_det = normalise(
            x,
            mean.astype(dtype),
            var.astype(dtype),
            self.log_scale.astype(dtype),
            self.shift.astype(dtype),
            self.eps,
        )
        return y, log_det

    def inverse_and_log_det(self, y, condition):
        if not self.inference:
            raise ValueError(
                "BatchNorm.inverse in training mode is undefined: the batch statistics belong "
                "to the unknown input. Sample or invert in inference mode: "
                "eqx.nn.inference_mode(model) (with flowkit.flows.batch_norm_inference for a "
                "State)."
            )
        mean, var = self.running_statistics()
        dtype = y.dtype
        log_std = 0.5 * jnp.log(var.astype(dtype) + self.eps)
        log_scale = self.log_scale.astype(dtype)
        x = (y - self.shift.astype(dtype)) * jnp.exp(log_std - log_scale) + mean.astype(dtype)
        return x, -math.prod(self.shape[:-1]) * jnp.sum(log_scale - log_std)
