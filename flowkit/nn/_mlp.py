"""Multilayer perceptron conditioner."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array, Float, PRNGKeyArray
from ._sizes import check_sizes


class MLP(eqx.Module):
    """``in_size -> [width] * depth -> out_size`` with an optional condition input.

    The condition (a vector of ``cond_size``) is concatenated to the input, so it reaches
    every hidden unit. With ``zero_init_output`` the last layer starts at zero, which makes a
    fresh coupling layer the identity map.

    Args:
        key: draws the initial weights.
        in_size: length of the input vector.
        out_size: length of the output vector.
        width: hidden units per layer.
        depth: number of hidden layers (0: one linear map).
        activation: elementwise nonlinearity after each hidden layer.
        cond_size: length of the condition vector, or None.
        zero_init_output: start the last layer at zero.

    Raises:
        ValueError: if ``width`` or ``cond_size`` is < 1, or ``in_size``, ``out_size`` or
            ``depth`` is < 0 (or any size is not an int).
    """

    layers: tuple[eqx.nn.Linear, ...]
    activation: Callable[[Array], Array] = eqx.field(static=True)
    cond_size: int | None = eqx.field(static=True)

    def __init__(
        self,
        key: PRNGKeyArray,
        in_size: int,
        out_size: int,
        *,
        width: int = 64,
        depth: int = 2,
        activation: Callable[[Array], Array] = jax.nn.relu,
        cond_size: int | None = None,
        zero_init_output: bool = True,
    ):
        check_sizes("MLP", 1, width=width, cond_size=cond_size)
        # 0 in or out: a coupling's mask that splits nothing, which the coupling names itself
        check_sizes("MLP", 0, in_size=in_size, out_size=out_size, depth=depth)
        sizes = [in_size + (cond_size or 0)] + [width] * depth + [out_size]
        keys = jax.random.split(key, len(sizes) - 1)
        layers = [
            eqx.nn.Linear(a, b, key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        ]
        if zero_init_output:
            last = layers[-1]
            zeros = jax.tree_util.tree_map(jnp.zeros_like, last)
            layers[-1] = zeros
        self.layers = tuple(layers)
        self.activation = activation
        self.cond_size = cond_size

    def __call__(
        self, x: Float[Array, " in_size"], condition: Float[Array, " cond_size"] | None = None
    ) -> Float[Array, " out_size"]:
        """Map one input vector (and its condition, if any) to one output vector.

        Args:
            x: one input, shape ``(in_size,)``.
            condition: shape ``(cond_size,)``, or None.

        Returns:
            Shape ``(out_size,)``.
        """
        if condition is not None:
            x = jnp.concatenate([x, condition.astype(x.dtype)])
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)
