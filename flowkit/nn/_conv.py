"""Channels-last 2-D convolution whose forward and backward convolutions are all canonical.

XLA:CPU runs a convolution fast only in the layout ``dim_labels=b01f_01io->b01f`` (NHWC input,
HWIO kernel). Its ConvCanonicalization pass rewrites other layouts, but only in the entry
computation: inside a ``lax.scan`` (a while loop) a non-canonical convolution falls to a
generic emitter about 10x slower. JAX differentiates a convolution into two non-canonical
ones (``b01f_01oi`` for the input gradient, ``f01b_i01o->01bf`` for the kernel gradient), so
scan-stacked conv layers trained slowly on CPU. :func:`conv2d_same` has a custom JVP written so
that JAX's own transposes of it, the backward convolutions, are canonical (see
docs/scan_conv_cpu.md).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from .._typing import Array, Float, PRNGKeyArray


def _same(k: int) -> list[tuple[int, int]]:
    p = (k - 1) // 2
    return [(p, p), (p, p)]


@jax.custom_jvp
def conv2d_same(x: Float[Array, "H W C"], w: Float[Array, "k k C O"]) -> Float[Array, "H W O"]:
    """One image convolved with an HWIO kernel, "same" padding, stride 1.

    Batches (``jax.vmap``) fold into the N axis.

    Args:
        x: one image, shape ``(H, W, C)``.
        w: the kernel, shape ``(k, k, C, O)`` with ``k`` odd.

    Returns:
        Shape ``(H, W, O)``.
    """
    return lax.conv_general_dilated(
        x[None], w, (1, 1), _same(w.shape[0]), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )[0]


def _conv2d_same_jvp(primals, tangents):
    # The tangent convolutions take layouts chosen so that their transposes (what reverse
    # mode runs) are NHWC/HWIO. JAX transposes conv(lhs, rhs) w.r.t. lhs into a conv with the
    # kernel's I/O labels swapped, and w.r.t. rhs into one with batch/feature swapped in the
    # input and output specs; these layouts are the preimages of the canonical one.
    x, w = primals
    dx, dw = tangents
    pad = _same(w.shape[0])
    out = conv2d_same(x, w)
    terms = []
    if not isinstance(dx, SymbolicZero):  # no conv for a zero tangent (e.g. data inputs)
        w_oi = jnp.transpose(w, (0, 1, 3, 2))
        dn = ("NHWC", "HWOI", "NHWC")
        terms.append(lax.conv_general_dilated(dx[None], w_oi, (1, 1), pad, dimension_numbers=dn)[0])
    if not isinstance(dw, SymbolicZero):
        x_cn = jnp.transpose(x[None], (3, 1, 2, 0))  # (C, H, W, N): channels in the batch slot
        dw_i01o = jnp.transpose(dw, (2, 0, 1, 3))
        dn = ("CHWN", "IHWO", "HWNC")
        t = lax.conv_general_dilated(x_cn, dw_i01o, (1, 1), pad, dimension_numbers=dn)
        terms.append(jnp.transpose(t, (2, 0, 1, 3))[0])
    if not terms:
        return out, jnp.zeros_like(out)
    return out, sum(terms[1:], terms[0])


conv2d_same.defjvp(_conv2d_same_jvp, symbolic_zeros=True)


class Conv2d(eqx.Module):
    """``(H, W, in_channels) -> (H, W, out_channels)``: one image, channels last, "same"
    padding, stride 1, an odd ``kernel_size``.

    The weight is HWIO ``(k, k, in, out)``; both it and the bias start ``U(-1/sqrt(fan_in),
    1/sqrt(fan_in))`` as in Equinox and PyTorch, or at zero with ``zero_init``. Every
    convolution it runs, forward and backward, vmapped or inside ``lax.scan``, is in the
    layout XLA:CPU runs fast (:func:`conv2d_same`).

    Args:
        key: draws the initial weight and bias.
        in_channels: channels of the input image.
        out_channels: channels of the output image.
        kernel_size: odd side of the square kernel.
        use_bias: whether to add a bias of shape ``(out_channels,)``.
        zero_init: start weight and bias at zero.

    Raises:
        ValueError: if a channel count is < 1 or ``kernel_size`` is not odd and positive.
    """

    weight: Float[Array, "k k in_channels out_channels"]
    bias: Float[Array, " out_channels"] | None

    def __init__(
        self,
        key: PRNGKeyArray,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        use_bias: bool = True,
        zero_init: bool = False,
    ):
        if min(in_channels, out_channels) < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                "Conv2d: channel counts must be >= 1 and kernel_size odd (for 'same' padding); "
                f"got in_channels={in_channels}, out_channels={out_channels}, "
                f"kernel_size={kernel_size}."
            )
        shape = (kernel_size, kernel_size, in_channels, out_channels)
        bound = 1.0 / math.sqrt(in_channels * kernel_size**2)
        draws = jax.random.uniform(key, (math.prod(shape) + out_channels,), minval=-1, maxval=1)
        if zero_init:
            draws = jnp.zeros_like(draws)
        self.weight = bound * draws[: math.prod(shape)].reshape(shape)
        self.bias = bound * draws[math.prod(shape) :] if use_bias else None

    def __call__(self, x: Float[Array, "H W in_channels"]) -> Float[Array, "H W out_channels"]:
        """Convolve one image (channels last).

        Args:
            x: one image, shape ``(H, W, in_channels)``.

        Returns:
            Shape ``(H, W, out_channels)``.

        Raises:
            ValueError: if ``x`` is not one image with ``in_channels`` channels (a batch goes
                through ``jax.vmap``).
        """
        k, _, cin, _ = self.weight.shape
        if x.ndim != 3 or x.shape[-1] != cin:
            raise ValueError(
                f"Conv2d: expected one image of shape (H, W, {cin}); got shape {x.shape}. "
                "Batches go through jax.vmap."
            )
        dtype = jnp.result_type(x, self.weight)
        out = conv2d_same(x.astype(dtype), self.weight.astype(dtype))
        return out if self.bias is None else out + self.bias.astype(dtype)
