"""Convolutional ResNet conditioner for image couplings (RealNVP, Glow)."""

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, Float, PRNGKeyArray
from ._conv import Conv2d


def _init_convs(
    specs: list[tuple[int, int, int]], key: PRNGKeyArray
) -> list[eqx.nn.WeightNorm[Conv2d]]:
    """Weight-normalised "same"-padded convolutions, one per ``(in, out, kernel)`` spec.

    :class:`Conv2d`'s initialisation, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights and
    biases, but drawn with one random call for the whole network: building a model then
    compiles one sampler rather than one per parameter shape. The weight norm is taken per
    output channel (the last axis of the HWIO weight).
    """
    convs = [eqx.filter_eval_shape(Conv2d, key, cin, cout, k) for cin, cout, k in specs]
    shapes = [leaf.shape for c in convs for leaf in (c.weight, c.bias)]  # type: ignore[union-attr]
    sizes = [math.prod(shape) for shape in shapes]
    dtype = convs[0].weight.dtype
    draws = jax.random.uniform(key, (sum(sizes),), dtype, minval=-1.0, maxval=1.0)
    pieces = [
        piece.reshape(shape)
        for piece, shape in zip(jnp.split(draws, np.cumsum(sizes)[:-1]), shapes, strict=True)
    ]
    out = []
    for (cin, _, k), conv, w, b in zip(specs, convs, pieces[::2], pieces[1::2], strict=True):
        bound = 1.0 / math.sqrt(cin * k * k)
        conv = eqx.tree_at(lambda c: (c.weight, c.bias), conv, (bound * w, bound * b))
        out.append(eqx.nn.WeightNorm(conv, axis=3))
    return out


class ConvResNet(eqx.Module):
    """``(H, W, in_channels) -> (H, W, out_channels)``: a weight-normalised conv ResNet.

    A 3x3 input convolution to ``width`` channels, ``depth`` residual blocks
    (activation, 3x3 conv, activation, 1x1 conv, plus the skip), then the activation and a
    3x3 output convolution. The output convolution starts at zero (weight-norm gain and bias
    0), so a coupling using this network starts as the identity. One image at a time,
    channels last; batches go through ``jax.vmap``. The convolutions are :class:`Conv2d`, whose
    gradients stay fast on CPU inside ``lax.scan``.

    Args:
        key: draws the initial weights.
        in_channels: channels of the input image.
        out_channels: channels of the output image.
        width: channels of the hidden layers.
        depth: number of residual blocks (0: input and output convolutions only).
        activation: elementwise nonlinearity.

    Raises:
        ValueError: if a channel count or ``width`` is < 1 or ``depth`` < 0.
    """

    conv_in: eqx.nn.WeightNorm[Conv2d]
    blocks: tuple[tuple[eqx.nn.WeightNorm[Conv2d], eqx.nn.WeightNorm[Conv2d]], ...]
    conv_out: eqx.nn.WeightNorm[Conv2d]
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        key: PRNGKeyArray,
        in_channels: int,
        out_channels: int,
        *,
        width: int = 64,
        depth: int = 2,
        activation: Callable[[Array], Array] = jax.nn.relu,
    ):
        if min(in_channels, out_channels, width) < 1 or depth < 0:
            raise ValueError(
                "ConvResNet: channel counts must be >= 1 and depth >= 0; got "
                f"in_channels={in_channels}, out_channels={out_channels}, "
                f"width={width}, depth={depth}."
            )
        hidden_channels, num_blocks = width, depth
        specs = [(in_channels, hidden_channels, 3)]
        specs += [(hidden_channels, hidden_channels, k) for _ in range(num_blocks) for k in (3, 1)]
        conv_in, *block_convs, conv_out = _init_convs(
            specs + [(hidden_channels, out_channels, 3)], key
        )
        self.conv_in = conv_in
        self.blocks = tuple(zip(block_convs[::2], block_convs[1::2], strict=True))
        # Zero gain and bias: the output is exactly 0 while the direction v stays random, so
        # gradients reach v as soon as the gain moves (a zero v would make v/|v| NaN).
        conv_out = eqx.tree_at(lambda c: c.g, conv_out, jnp.zeros_like(conv_out.g))
        self.conv_out = eqx.tree_at(
            lambda c: c.layer.bias,
            conv_out,
            jnp.zeros_like(conv_out.layer.bias),  # type: ignore[arg-type]
        )
        self.activation = activation

    def __call__(self, x: Float[Array, "H W in_channels"]) -> Float[Array, "H W out_channels"]:
        """Map one image (channels last) to one image of ``out_channels``.

        Args:
            x: one image, shape ``(H, W, in_channels)``.

        Returns:
            Shape ``(H, W, out_channels)``.
        """
        h = self.conv_in(x)
        for conv3, conv1 in self.blocks:
            h = h + conv1(self.activation(conv3(self.activation(h))))
        return self.conv_out(self.activation(h))
