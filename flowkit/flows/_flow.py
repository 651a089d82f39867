"""A normalizing flow: a bijector pushing a distrax base distribution forward."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._engine._memory_mode import apply_to_batch
from .._typing import Array, ArrayLike, Float, PRNGKeyArray, Shape
from ..bijectors._base import AbstractBijector
from ..bijectors._batch_norm import BATCH_AXIS
from ._dtype import as_dtype, model_dtype
from ._frozen_base import FrozenBase

if TYPE_CHECKING:  # distrax (and TensorFlow Probability) is slow to import
    import distrax


def _batch_dims(owner: str, x: Array, shape: Shape) -> tuple[int, ...]:
    """The leading batch dimensions of ``x``, whose trailing dimensions must be ``shape``."""
    n = len(shape)
    if x.ndim < n or tuple(x.shape[x.ndim - n :]) != tuple(shape):
        raise ValueError(
            f"{owner}: expected an array of shape (*batch, {', '.join(map(str, shape))}) "
            f"whose trailing dimensions are the event shape {tuple(shape)}; got shape {x.shape}."
        )
    return tuple(x.shape[: x.ndim - n])


def _sample_shape(owner: str, sample_shape) -> tuple[int, ...]:
    """``sample_shape`` as a tuple of non-negative ints (an int ``n`` means ``(n,)``)."""
    shape = (sample_shape,) if isinstance(sample_shape, int | np.integer) else sample_shape
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if shape is None or not all(
        isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ValueError(
            f"{owner}: sample_shape must be an int >= 0 or a tuple of ints >= 0, e.g. (16,); "
            f"got {sample_shape!r}."
        )
    return tuple(int(d) for d in shape)


class Flow(eqx.Module):
    """``x = bijector(z)``, ``z ~ base``; the density follows from the change of variables.

    The bijector's forward maps base samples to data (the generative direction);
    ``log_prob`` runs its inverse: ``log p(x) = log p_base(f^-1(x)) + log|det d f^-1/dx|``.

    Batches: ``log_prob`` takes ``x`` of shape ``(*batch, *shape)`` and returns ``batch``
    log-densities; ``condition`` is either one condition of ``cond_shape`` (shared) or one
    per example, ``(*batch, *cond_shape)``. Sampling draws ``sample_shape`` events. The base
    is fixed: its parameters are held out of gradients and of :func:`trainable_filter`.

    Args:
        bijector: maps a latent of shape ``bijector.shape`` to one data event of shape
            ``bijector.out_shape``.
        base: the latent distribution, with event shape ``bijector.shape`` (or a
            :class:`FrozenBase` holding it).

    Raises:
        ValueError: if the base's event shape is not the bijector's latent shape.
    """

    bijector: AbstractBijector
    frozen_base: FrozenBase

    def __init__(self, bijector: AbstractBijector, base: distrax.Distribution | FrozenBase):
        self.bijector = bijector
        self.frozen_base = base if isinstance(base, FrozenBase) else FrozenBase(base)

    @property
    def base(self) -> distrax.Distribution:
        """The base distribution (a distrax distribution over the latent shape)."""
        return self.frozen_base.distribution

    def __check_init__(self):
        event = tuple(self.base.event_shape)
        latent = tuple(self.bijector.shape)  # the forward map takes latents to data
        if event != latent:
            raise ValueError(
                f"Flow: the base distribution's event shape {event} must equal the bijector's "
                f"latent shape (its input shape) {latent}; build the base for that shape."
            )

    @property
    def shape(self) -> Shape:
        """The shape of one data event (what the bijector's forward map returns)."""
        return tuple(self.bijector.out_shape)

    @property
    def cond_shape(self) -> Shape | None:
        """The shape of one condition (None for an unconditional flow)."""
        return self.bijector.cond_shape

    @property
    def dtype(self) -> np.dtype | None:
        """The dtype inputs are cast to: that of the bijector's parameters (or the base's).

        float32/float64 data and conditions (a float32 batch for a float64 model under
        ``jax_enable_x64``, say) are cast to it before any scan runs. None for a flow
        without floating-point arrays.
        """
        dtype = model_dtype(self.bijector)
        return model_dtype(self.frozen_base) if dtype is None else dtype

    def _condition_batch(self, owner: str, condition) -> tuple[Array | None, Shape]:
        """The condition as an array and its batch dimensions (those before ``cond_shape``)."""
        if self.cond_shape is None:
            if condition is not None:
                raise ValueError(f"{owner}: this flow is unconditional; drop the condition.")
            return None, ()
        if condition is None:
            raise ValueError(
                f"{owner}: this flow is conditional; pass condition= of shape "
                f"{self.cond_shape} (or with leading batch dimensions)."
            )
        condition = as_dtype(condition, self.dtype)
        n = len(self.cond_shape)
        if condition.ndim < n or tuple(condition.shape[condition.ndim - n :]) != self.cond_shape:
            dims = ", ".join(map(str, self.cond_shape))
            raise ValueError(
                f"{owner}: expected condition of shape (*batch, {dims}) (cond_shape "
                f"{self.cond_shape} with any leading batch dimensions); got {condition.shape}."
            )
        return condition, tuple(condition.shape[: condition.ndim - n])

    def _broadcast(self, owner: str, batches: list[Shape]) -> Shape:
        try:
            return tuple(jnp.broadcast_shapes(*batches))
        except ValueError:
            raise ValueError(
                f"{owner}: the batch dimensions of x {batches[0]} and of the condition "
                f"{batches[1]} do not broadcast against each other."
            ) from None

    def _map_batch(self, fn, batch, *args, batched: bool = False):
        """Apply a single-event ``fn`` (or, if ``batched``, a function of one flat batch)
        over the flattened batch dimensions of ``args``."""
        n = math.prod(batch)
        flat = [None if a is None else a.reshape((n,) + a.shape[len(batch) :]) for a in args]
        # Named axis: batch-aware layers (BatchNorm in training mode) take batch statistics.
        out = fn(*flat) if batched else jax.vmap(fn, axis_name=BATCH_AXIS)(*flat)
        return jax.tree_util.tree_map(lambda o: o.reshape(batch + o.shape[1:]), out)

    def log_prob(self, x: ArrayLike, condition: ArrayLike | None = None) -> Float[Array, "*batch"]:
        """Log-density of ``x`` of shape ``(*batch, *shape)``; returns shape ``batch``.

        A condition of shape ``(*cond_batch, *cond_shape)`` broadcasts against ``x``'s batch
        dimensions (numpy rules), as in flowjax: one condition for many ``x``, or many.
        float32/float64 ``x`` and conditions are cast to :attr:`dtype`. A row with an
        infinite coordinate lies outside the support: its log-density is ``-inf``.

        Args:
            x: events, shape ``(*batch, *shape)``.
            condition: shape ``(*cond_batch, *cond_shape)``; required exactly when the flow
                is conditional.

        Returns:
            Log-densities, shape ``broadcast(batch, cond_batch)``.

        Raises:
            ValueError: if ``x`` does not end in ``shape``, the condition is missing, not
                wanted or does not end in ``cond_shape``, or the batch dimensions do not
                broadcast.
        """
        x = as_dtype(x, self.dtype)
        x_batch = _batch_dims("Flow.log_prob", x, self.shape)
        condition, c_batch = self._condition_batch("Flow.log_prob", condition)
        batch = self._broadcast("Flow.log_prob", [x_batch, c_batch])
        x = jnp.broadcast_to(x, batch + tuple(self.shape))
        if condition is not None:
            condition = jnp.broadcast_to(condition, batch + tuple(self.cond_shape or ()))
        base = self.base

        def batched(xs, cs):  # the bijector sees the whole batch (MemoryMode needs it)
            z, log_det = apply_to_batch(self.bijector, "inverse_and_log_det", xs, cs)
            return jax.vmap(base.log_prob)(z) + log_det

        log_p = self._map_batch(batched, batch, x, condition, batched=True)
        # A point with an infinite coordinate lies outside the support: its log-density is
        # -inf (the bijector would turn inf - inf into NaN). NaN entries stay NaN (unknown).
        event_axes = tuple(range(len(batch), x.ndim))
        outside = jnp.any(jnp.isinf(x), axis=event_axes) & ~jnp.any(jnp.isnan(x), axis=event_axes)
        return jnp.where(outside, -jnp.inf, log_p)

    def sample_and_log_prob(
        self,
        key: PRNGKeyArray,
        sample_shape: int | tuple[int, ...] = (),
        condition: ArrayLike | None = None,
        temperature: float | Float[ArrayLike, ""] = 1.0,
    ) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
        """Draw events and their log-densities under the flow.

        Args:
            key: the PRNG key of the draw.
            sample_shape: how many events, an int or a tuple of ints.
            condition: shape ``(*cond_batch, *cond_shape)``; required exactly when the flow
                is conditional. ``cond_batch`` dimensions follow ``sample_shape`` in the
                result (as in flowjax).
            temperature: > 0, may be traced; scales the base around its mean (for a normal
                base: its standard deviation), as in Glow. The returned log-density is that
                of the tempered model.

        Returns:
            ``(x, log_prob)``: events of shape ``(*sample_shape, *cond_batch, *shape)`` and
            log-densities of shape ``(*sample_shape, *cond_batch)``.

        Raises:
            ValueError: if ``sample_shape`` is not an int or tuple of ints >= 0, the
                condition is missing, not wanted or of the wrong shape, or ``temperature``
                is not a positive scalar.
        """
        sample_shape = _sample_shape("Flow.sample", sample_shape)
        condition, c_batch = self._condition_batch("Flow.sample", condition)
        batch = sample_shape + c_batch
        if condition is not None:
            condition = jnp.broadcast_to(condition, batch + tuple(self.cond_shape or ()))
        base = self.base
        z = base.sample(seed=key, sample_shape=batch)
        log_pz = base.log_prob(z)
        if not (isinstance(temperature, (int, float)) and temperature == 1.0):
            if isinstance(temperature, (int, float)) and temperature <= 0:
                raise ValueError(f"Flow.sample: temperature must be > 0; got {temperature}.")
            t = jnp.asarray(temperature, z.dtype)
            if t.ndim:
                raise ValueError(f"Flow.sample: temperature must be a scalar; got {t.shape}.")
            t = eqx.error_if(t, t <= 0, "Flow.sample: temperature must be > 0.")
            mean = base.mean()
            z = mean + t * (z - mean)
            # density of the tempered base: p_T(z) = p((z - m)/T + m) / T^D
            log_pz = base.log_prob(mean + (z - mean) / t) - math.prod(base.event_shape) * jnp.log(t)

        def batched(zs, cs):
            return apply_to_batch(self.bijector, "forward_and_log_det", zs, cs)

        x, log_det = self._map_batch(batched, batch, z, condition, batched=True)
        return x, log_pz - log_det

    def sample(
        self,
        key: PRNGKeyArray,
        sample_shape: int | tuple[int, ...] = (),
        condition: ArrayLike | None = None,
        temperature: float | Float[ArrayLike, ""] = 1.0,
    ) -> Float[Array, "..."]:
        """Draw ``sample_shape`` events of shape ``shape`` (see :meth:`sample_and_log_prob`).

        Args:
            key: the PRNG key of the draw.
            sample_shape: how many events, an int or a tuple of ints.
            condition: shape ``(*cond_batch, *cond_shape)``; required exactly when the flow
                is conditional.
            temperature: > 0, may be traced; scales the base around its mean.

        Returns:
            Events, shape ``(*sample_shape, *cond_batch, *shape)``.

        Raises:
            ValueError: as :meth:`sample_and_log_prob`.
        """
        return self.sample_and_log_prob(key, sample_shape, condition, temperature)[0]
