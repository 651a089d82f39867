"""Monotone rational-quadratic splines (Durkan et al. 2019, "Neural Spline Flows").

The maths is a set of pure functions on ONE scalar and its unnormalised parameter vector;
:class:`RationalQuadraticSplineTransformer` vmaps them over the entries of a coupling or
autoregressive layer. On ``[-tail_bound, tail_bound]`` the map is a monotone spline with
``num_bins`` bins; outside it is the identity (linear tails). The derivative at both
boundary knots is 1, so the tails join the spline with a continuous first derivative.

Parameter layout (``3 * num_bins - 1`` numbers): ``num_bins`` unnormalised widths,
``num_bins`` unnormalised heights, ``num_bins - 1`` unnormalised interior derivatives.
All-zero parameters give the identity map (equal bins, every derivative 1).
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, Float, Scalar
from ._transformers import AbstractTransformer

Knots = tuple[Float[Array, " k"], Float[Array, " k"], Float[Array, " k"]]


def num_spline_params(num_bins: int) -> int:
    """Unnormalised parameters per entry: widths, heights and interior derivatives."""
    return 3 * num_bins - 1


def _bin_edges(unnormalized: Array, tail_bound: float, min_size: float) -> Array:
    """``num_bins + 1`` increasing edges from ``-tail_bound`` to ``tail_bound``."""
    num_bins = unnormalized.shape[-1]
    # softmax subtracts the max before exponentiating, so parameters of +/-1e3 cannot overflow.
    sizes = jax.nn.softmax(unnormalized)
    # A floor on each bin keeps every width/height >= 2 * tail_bound * min_size > 0, so the
    # slopes s = height / width below never divide by zero.
    sizes = min_size + (1.0 - min_size * num_bins) * sizes
    cumulative = jnp.cumsum(sizes)
    # Pin the last edge at exactly 1: cumsum rounding must not leave a gap at the bound.
    cumulative = cumulative.at[-1].set(1.0)
    edges = jnp.concatenate([jnp.zeros_like(cumulative[:1]), cumulative])
    return (2.0 * edges - 1.0) * tail_bound


def spline_knots(
    params: Float[Array, " p"],
    tail_bound: float = 3.0,
    min_bin_width: float = 1e-3,
    min_bin_height: float = 1e-3,
    min_derivative: float = 1e-3,
) -> Knots:
    """Knot positions ``(x_k, y_k)`` and derivatives ``d_k``, each of shape ``(num_bins + 1,)``.

    ``params`` has shape ``(3 * num_bins - 1,)``; see the module docstring for its layout.
    """
    num_bins = (params.shape[-1] + 1) // 3
    widths = params[:num_bins]
    heights = params[num_bins : 2 * num_bins]
    derivs = params[2 * num_bins :]
    x_knots = _bin_edges(widths, tail_bound, min_bin_width)
    y_knots = _bin_edges(heights, tail_bound, min_bin_height)
    # The offset makes a zero parameter a derivative of exactly 1 (the identity). softplus is
    # evaluated as logaddexp(x, 0), finite for +/-1e3; the floor keeps d > 0 in float32.
    offset = float(np.log(np.expm1(1.0 - min_derivative)))
    inner = min_derivative + jax.nn.softplus(derivs + offset)
    one = jnp.ones_like(inner[:1])
    return x_knots, y_knots, jnp.concatenate([one, inner, one])


def _find_bin(value: Array, edges: Array) -> Array:
    """Index ``k`` of the bin ``edges[k] <= value < edges[k + 1]`` (the last bin is closed)."""
    return jnp.sum(value >= edges[1:-1]).astype(jnp.int32)


def _bin(knots: Knots, k: Array):
    x_knots, y_knots, derivs = knots
    # Select bin k with a one-hot mask rather than a gather: cheaper to compile under vmap,
    # jacobian and grad (no scatter in the transpose), and just as fast for a few bins.
    lower = jnp.arange(x_knots.shape[0] - 1, dtype=k.dtype) == k

    def pick(values, upper=False):
        chosen = values[1:] if upper else values[:-1]
        return jnp.sum(jnp.where(lower, chosen, jnp.zeros_like(chosen)))

    x0, y0, d0 = pick(x_knots), pick(y_knots), pick(derivs)
    x1, y1, d1 = pick(x_knots, True), pick(y_knots, True), pick(derivs, True)
    width, height = x1 - x0, y1 - y0
    return x0, y0, d0, d1, width, height, height / width


def _log_derivative(xi, d0, d1, slope) -> Array:
    """``log dy/dx`` of one bin at relative position ``xi`` (eq. 5 of Durkan et al.)."""
    t = xi * (1.0 - xi)
    # denominator = s (1 - 2t) + (d0 + d1) t >= s / 2 > 0 because t <= 1/4: safe to log.
    denominator = slope + (d0 + d1 - 2.0 * slope) * t
    # numerator is a positive combination of d1, s, d0 with weights summing to >= 1/2.
    numerator = d1 * xi**2 + 2.0 * slope * t + d0 * (1.0 - xi) ** 2
    # Logs of the factors, not of their product, so slopes near 1e-3 or 1e3 cannot
    # underflow or overflow in float32.
    return 2.0 * jnp.log(slope) + jnp.log(numerator) - 2.0 * jnp.log(denominator)


def rqs_forward(x: Scalar, knots: Knots, tail_bound: float = 3.0) -> tuple[Scalar, Scalar]:
    """The spline at one scalar ``x``: ``(y, log dy/dx)``; identity outside the bound."""
    inside = (x >= -tail_bound) & (x <= tail_bound)
    # Evaluate the spline at a safe point for outside inputs: the unused branch of the final
    # `where` must be finite in value and gradient, or its NaN would leak into the gradient.
    # (A `clip` would also halve the gradient exactly at +/-tail_bound, where it ties.)
    x_in = jnp.where(inside, x, jnp.zeros_like(x))
    x0, y0, d0, d1, width, height, slope = _bin(knots, _find_bin(x_in, knots[0]))
    # x0 <= x_in <= x1 in floating point (same comparisons as the bin search), so xi is in
    # [0, 1] without clipping; a clip would halve the gradient exactly at the knots.
    xi = (x_in - x0) / width
    t = xi * (1.0 - xi)
    denominator = slope + (d0 + d1 - 2.0 * slope) * t  # >= slope / 2 > 0
    y = y0 + height * (slope * xi**2 + d0 * t) / denominator
    log_deriv = _log_derivative(xi, d0, d1, slope)
    return jnp.where(inside, y, x), jnp.where(inside, log_deriv, jnp.zeros_like(log_deriv))


def rqs_inverse(y: Scalar, knots: Knots, tail_bound: float = 3.0) -> tuple[Scalar, Scalar]:
    """The inverse spline at one scalar ``y``: ``(x, log dx/dy)``; identity outside."""
    inside = (y >= -tail_bound) & (y <= tail_bound)
    y_in = jnp.where(inside, y, jnp.zeros_like(y))  # safe point; see rqs_forward
    x0, y0, d0, d1, width, height, slope = _bin(knots, _find_bin(y_in, knots[1]))
    # Solve a xi^2 + b xi + c = 0 for the relative position xi (eqs. 6-8 of Durkan et al.).
    dy = y_in - y0
    curvature = d0 + d1 - 2.0 * slope
    a = height * (slope - d0) + dy * curvature
    b = height * d0 - dy * curvature
    c = -slope * dy
    disc = b**2 - 4.0 * a * c
    # The discriminant is > 0 in exact arithmetic (the spline is strictly monotone), but
    # rounding can push it to <= 0 for extreme parameters: take sqrt only of a positive
    # value (double `where`), so neither the value nor the gradient becomes NaN.
    positive = disc > 0
    root = jnp.where(positive, jnp.sqrt(jnp.where(positive, disc, jnp.ones_like(disc))), 0.0)
    # The root in the form 2c / (-b - sqrt(disc)) avoids cancellation. Its denominator is < 0
    # in exact arithmetic; keep it away from 0 so rounding cannot divide by zero.
    denominator = -b - root
    tiny = jnp.finfo(denominator.dtype).tiny
    denominator = jnp.where(denominator < -tiny, denominator, -tiny)
    xi = 2.0 * c / denominator
    # Rounding can leave xi a hair outside [0, 1] (y on a knot), where the bin's denominator
    # can turn negative for extreme derivatives and its log NaN. Clamp the value only: the
    # correction is rounding-sized, so the gradient passes straight through (a clip would
    # zero it outside and halve it exactly at the knots).
    xi = xi + jax.lax.stop_gradient(jnp.clip(xi, 0.0, 1.0) - xi)
    x = x0 + xi * width
    log_deriv = -_log_derivative(xi, d0, d1, slope)
    return jnp.where(inside, x, y), jnp.where(inside, log_deriv, jnp.zeros_like(log_deriv))


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _spline_entries(
    v: Float[Array, " n"],
    params: Float[Array, "n p"],
    tail_bound: float,
    bounds: tuple[float, float, float],
    inverse: bool,
) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
    """The spline (or its inverse) entry by entry; ``bounds`` = minimum width, height, slope.

    Jitted so that eager calls run as one compiled program instead of op by op; inside an
    outer jit/grad/vmap it is simply inlined.
    """
    rqs = rqs_inverse if inverse else rqs_forward

    def one(value, p):
        return rqs(value, spline_knots(p, tail_bound, *bounds), tail_bound)

    return jax.vmap(one)(v, params)


class RationalQuadraticSplineTransformer(AbstractTransformer):
    """Monotone rational-quadratic spline per entry, identity outside ``+/-tail_bound``.

    Each entry takes ``3 * num_bins - 1`` unnormalised parameters (widths, heights,
    interior derivatives); zero parameters give the identity, so a zero-initialised
    conditioner starts a layer at the identity. Bins are at least ``min_bin_width`` /
    ``min_bin_height`` of the interval and derivatives at least ``min_derivative``.

    Args:
        num_bins: how many bins the spline has on ``[-tail_bound, tail_bound]``, ``>= 1``.
        tail_bound: half the width of the interval the spline covers, ``> 0``.
        min_bin_width: the smallest bin width, as a fraction of the interval.
        min_bin_height: the smallest bin height, as a fraction of the interval.
        min_derivative: the smallest derivative at a knot, ``> 0``.

    Raises:
        ValueError: if ``num_bins < 1``, ``tail_bound <= 0``, ``min_derivative <= 0``, or
            ``min_bin_width`` or ``min_bin_height`` times ``num_bins`` is ``>= 1``.
    """

    exact_inverse = True  # one closed-form pass each way

    num_bins: int = eqx.field(static=True)
    tail_bound: float = eqx.field(static=True)
    min_bin_width: float = eqx.field(static=True)
    min_bin_height: float = eqx.field(static=True)
    min_derivative: float = eqx.field(static=True)
    num_params: int = eqx.field(static=True)

    def __init__(
        self,
        num_bins: int = 8,
        tail_bound: float = 3.0,
        min_bin_width: float = 1e-3,
        min_bin_height: float = 1e-3,
        min_derivative: float = 1e-3,
    ):
        if num_bins < 1 or tail_bound <= 0:
            raise ValueError(
                f"RationalQuadraticSplineTransformer: need num_bins >= 1 and tail_bound > 0; "
                f"got num_bins={num_bins}, tail_bound={tail_bound}."
            )
        if max(min_bin_width, min_bin_height) * num_bins >= 1 or min_derivative <= 0:
            raise ValueError(
                "RationalQuadraticSplineTransformer: min_bin_width and min_bin_height times "
                f"num_bins must be < 1 and min_derivative > 0; got {min_bin_width}, "
                f"{min_bin_height}, {min_derivative} with num_bins={num_bins}."
            )
        self.num_bins = int(num_bins)
        self.tail_bound = float(tail_bound)
        self.min_bin_width = float(min_bin_width)
        self.min_bin_height = float(min_bin_height)
        self.min_derivative = float(min_derivative)
        self.num_params = num_spline_params(self.num_bins)

    def _check(self, params: Array):
        if params.shape[-1] != self.num_params:
            raise ValueError(
                f"RationalQuadraticSplineTransformer with num_bins={self.num_bins} expects "
                f"{self.num_params} parameters per entry; got {params.shape[-1]}."
            )

    def _apply(self, v: Array, params: Array, inverse: bool):
        self._check(params)
        bounds = (self.min_bin_width, self.min_bin_height, self.min_derivative)
        return _spline_entries(v, params.astype(v.dtype), self.tail_bound, bounds, inverse)

    def forward_and_log_det(self, x, params):
        return self._apply(x, params, inverse=False)

    def inverse_and_log_det(self, y, params):
        return self._apply(y, params, inverse=True)
