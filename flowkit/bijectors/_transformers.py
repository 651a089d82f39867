"""Elementwise transformer families used by couplings and autoregressive layers.

A transformer maps ``n`` entries, each with its own parameter vector produced by a
conditioner: ``x`` has shape ``(n,)``, ``params`` shape ``(n, num_params)``, and the
log-derivatives come back per entry (shape ``(n,)``) so a caller can mask or sum them.
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array, Float


class AbstractTransformer(eqx.Module):
    """A family of scalar bijections indexed by a parameter vector per entry.

    A subclass gives ``num_params`` (numbers per entry), both maps, and may set the class
    attribute ``exact_inverse = True`` when both directions are closed-form and one pass
    (a coupling with this transformer is then rebuilt by invertible backprop).
    """

    num_params: eqx.AbstractVar[int]
    exact_inverse: ClassVar[bool] = False

    def has_exact_inverse(self) -> bool:
        """The class attribute ``exact_inverse``: whether both directions are exact."""
        return self.exact_inverse

    @abc.abstractmethod
    def forward_and_log_det(
        self, x: Float[Array, " n"], params: Float[Array, "n p"]
    ) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
        """Return ``(y, log|dy/dx|)`` entry by entry."""

    @abc.abstractmethod
    def inverse_and_log_det(
        self, y: Float[Array, " n"], params: Float[Array, "n p"]
    ) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
        """Return ``(x, log|dx/dy|)`` entry by entry."""


class AffineTransformer(AbstractTransformer):
    """``y = x * exp(log_s) + shift`` with ``log_s = rescale * tanh(raw)`` (RealNVP).

    ``params[..., 0]`` is the shift, ``params[..., 1]`` the raw log-scale. The tanh bound
    keeps early training stable; the learnable per-entry ``rescale`` (initially 1) lets
    the bound grow. With zero parameters the map is the identity.

    Args:
        num_entries: ``n``, how many entries the map transforms (the length of
            ``rescale``).
    """

    exact_inverse = True  # one closed-form pass each way

    rescale: Float[Array, " n"]
    num_params: int = eqx.field(static=True, default=2)

    def __init__(self, num_entries: int):
        self.rescale = jnp.ones((num_entries,))

    def _shift_log_scale(self, params):
        return params[..., 0], self.rescale * jnp.tanh(params[..., 1])

    def forward_and_log_det(self, x, params):
        shift, log_scale = self._shift_log_scale(params)
        return x * jnp.exp(log_scale) + shift, log_scale

    def inverse_and_log_det(self, y, params):
        shift, log_scale = self._shift_log_scale(params)
        return (y - shift) * jnp.exp(-log_scale), -log_scale


class SoftplusAffineTransformer(AbstractTransformer):
    """``y = x * scale + shift`` with ``scale = softplus(raw + log(e - 1)) + min_scale``.

    The offset makes zero parameters the identity (scale 1); ``min_scale`` keeps the map
    invertible in float32. Unbounded above, as used by MAF/IAF.

    Args:
        min_scale: the smallest scale, ``> 0``.
        num_params: the parameters per entry the map reads; keep the default 2.
    """

    exact_inverse = True  # one closed-form pass each way

    min_scale: float = eqx.field(static=True, default=1e-3)
    num_params: int = eqx.field(static=True, default=2)

    def _shift_scale(self, params):
        raw = params[..., 1] + jnp.log(jnp.expm1(1.0 - self.min_scale))
        return params[..., 0], jax.nn.softplus(raw) + self.min_scale

    def forward_and_log_det(self, x, params):
        shift, scale = self._shift_scale(params)
        return x * scale + shift, jnp.log(scale)

    def inverse_and_log_det(self, y, params):
        shift, scale = self._shift_scale(params)
        return (y - shift) / scale, -jnp.log(scale)


class AdditiveTransformer(AbstractTransformer):
    """``y = x + shift`` (NICE): volume preserving, log-derivative 0.

    Args:
        num_params: the parameters per entry the map reads; keep the default 1.
    """

    exact_inverse = True  # one closed-form pass each way

    num_params: int = eqx.field(static=True, default=1)

    def forward_and_log_det(self, x, params):
        return x + params[..., 0], jnp.zeros_like(x)

    def inverse_and_log_det(self, y, params):
        return y - params[..., 0], jnp.zeros_like(y)


class StandardizeTransformer(AbstractTransformer):
    """``y = (x - mean) * exp(-log_scale)``: ``x ~ N(mean, exp(log_scale)**2)`` to ``N(0, 1)``.

    ``params[..., 0]`` is the mean, ``params[..., 1]`` the (unbounded) log-scale; zero
    parameters give the identity. Glow's learned prior of a factored-out latent
    (:func:`split_prior`) written as a bijector.

    Args:
        num_params: the parameters per entry the map reads; keep the default 2.
    """

    exact_inverse = True  # one closed-form pass each way

    num_params: int = eqx.field(static=True, default=2)

    def forward_and_log_det(self, x, params):
        mean, log_scale = params[..., 0], params[..., 1]
        return (x - mean) * jnp.exp(-log_scale), -log_scale

    def inverse_and_log_det(self, y, params):
        mean, log_scale = params[..., 0], params[..., 1]
        return mean + y * jnp.exp(log_scale), log_scale
