"""MADE: a masked MLP whose outputs for dimension i see only inputs earlier in an order.

Germain et al. 2015. Each input gets a degree ``1..D`` (its position in the order plus
one), each hidden unit a degree ``0..D-1``; a connection is kept when the degree does not
decrease (input -> hidden, hidden -> hidden) or strictly increases (hidden -> output), so
the outputs of dimension i depend exactly on the inputs whose degree is smaller. A
condition acts as inputs of degree 0: it reaches every hidden unit, hence every output.
"""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, Float, Int, PRNGKeyArray


class MaskedLinear(eqx.Module):
    """``y = (weight * mask) @ x + bias`` with a fixed boolean connectivity mask.

    Args:
        weight: shape ``(out, in)``.
        bias: shape ``(out,)``.
        mask: boolean, shape ``(out, in)``; a non-trainable leaf.
    """

    weight: Float[Array, "out in"]
    bias: Float[Array, " out"]
    mask: Array  # bool (out, in): a non-trainable leaf (it may differ per stacked layer)

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        weight = jnp.where(self.mask, self.weight, jnp.zeros_like(self.weight))
        return weight @ x + self.bias


def _uniform_layers(key: PRNGKeyArray, masks: list[Array]) -> list[MaskedLinear]:
    """Layers with weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as in PyTorch.

    One draw for all layers: one random-bits kernel to compile instead of one per shape.
    """
    sizes = [m.size + m.shape[0] for m in masks]
    noise = jax.random.uniform(key, (sum(sizes),), minval=-1.0, maxval=1.0)
    layers, start = [], 0
    for mask, size in zip(masks, sizes, strict=True):
        values = noise[start : start + size] / np.sqrt(mask.shape[1])  # 1 / sqrt(fan_in)
        weight, bias = values[: mask.size].reshape(mask.shape), values[mask.size :]
        layers.append(MaskedLinear(weight, bias, mask))
        start += size
    return layers


ORDERS = ("natural", "reversed", "random")


def check_order(order: str | Sequence[int] | Array, in_size: int) -> str | tuple[int, ...]:
    """Validate an order: one of ``ORDERS`` or a permutation of ``0..in_size-1``.

    Args:
        order: a name in ``ORDERS``, or the dimensions in the order they are generated,
            shape ``(in_size,)``.
        in_size: the number of dimensions.

    Returns:
        The name, or the permutation as a tuple of ints.

    Raises:
        ValueError: if the name is unknown or the sequence is not a permutation.
    """
    if isinstance(order, str):
        if order not in ORDERS:
            raise ValueError(
                f"MADE: unknown order {order!r}; expected 'natural', 'reversed', 'random' or "
                "a sequence of dimensions."
            )
        return order
    given = np.asarray(order)
    if given.shape != (in_size,) or not np.array_equal(np.sort(given), np.arange(in_size)):
        raise ValueError(
            f"MADE: a given order must be a permutation of 0..{in_size - 1}; got {given}."
        )
    return tuple(int(i) for i in given)


def input_ranks(
    order: str | tuple[int, ...], in_size: int, key: PRNGKeyArray
) -> Int[Array, " in_size"]:
    """The 0-based position of each input dimension in the autoregressive order.

    Args:
        order: ``"natural"`` (0, 1, ..., D-1), ``"reversed"``, ``"random"`` (a permutation
            drawn from ``key``) or a tuple giving the dimensions in the order they are
            generated, e.g. ``(2, 0, 1)`` means dimension 2 first, then 0, then 1.
        in_size: D, the number of dimensions.
        key: draws the ``"random"`` order; unused otherwise.

    Returns:
        The rank of each dimension, int32 of shape ``(in_size,)``.
    """
    if order == "natural":
        return jnp.arange(in_size, dtype=jnp.int32)
    if order == "reversed":
        return jnp.arange(in_size - 1, -1, -1, dtype=jnp.int32)
    if order == "random":
        return jnp.argsort(jax.random.permutation(key, in_size)).astype(jnp.int32)
    return jnp.asarray(np.argsort(np.asarray(order)), jnp.int32)


def _hidden_degrees(width: int, in_size: int, conditional: bool) -> np.ndarray:
    """Hidden degrees cycling through 1..D-1, or 0..D-1 with a condition.

    A degree-0 unit sees no input, only the condition: it is what lets the first
    dimension's parameters depend on the condition. Without one it would be a constant.
    """
    if conditional or in_size == 1:
        return np.arange(width) % in_size
    return np.arange(width) % (in_size - 1) + 1


@eqx.filter_jit  # one compilation per configuration instead of one per eager init op
def _build(
    key: PRNGKeyArray,
    order: str | tuple[int, ...],
    in_size: int,
    num_params: int,
    width: int,
    depth: int,
    cond_size: int | None,
    zero_init_output: bool,
) -> tuple[Array, list[MaskedLinear]]:
    """The input ranks and the masked layers of a MADE."""
    k_order, k_layers = jax.random.split(key)
    ranks = input_ranks(order, in_size, k_order)
    in_degrees = ranks + 1
    hidden = jnp.asarray(_hidden_degrees(width, in_size, cond_size is not None), in_degrees.dtype)
    cond_cols = jnp.ones((width, cond_size or 0), bool)
    masks = [jnp.concatenate([hidden[:, None] >= in_degrees[None, :], cond_cols], axis=1)]
    hidden_mask = jnp.concatenate([hidden[:, None] >= hidden[None, :], cond_cols], axis=1)
    masks += [hidden_mask] * (depth - 1)
    out_degrees = jnp.repeat(in_degrees, num_params)  # (D * num_params,), dimension-major
    masks.append(out_degrees[:, None] > hidden[None, :])
    layers = _uniform_layers(k_layers, masks)
    if zero_init_output:
        last = layers[-1]
        layers[-1] = eqx.tree_at(
            lambda lin: (lin.weight, lin.bias),
            last,
            (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)),
        )
    return ranks, layers


class MADE(eqx.Module):
    """Masked autoencoder: ``(D,) -> (D, num_params)``, autoregressive in a given order.

    ``out[i]`` depends only on the inputs ``x[j]`` that come before ``i`` in the order (the
    first dimension's parameters are constant, or depend on the condition only). An
    optional condition vector of ``cond_size`` is fed, unmasked, into every hidden layer.
    With ``zero_init_output`` the output layer starts at zero, so a fresh autoregressive
    layer is the identity.

    Args:
        key: draws the initial weights (and a ``"random"`` order).
        in_size: D, the number of inputs (and of output groups).
        num_params: parameters per dimension (what the transformer needs).
        width: hidden units per layer. With ``width >= D - 1`` (``>= D`` with a condition)
            every allowed dependency exists.
        depth: number of hidden layers.
        order: ``"natural"``, ``"reversed"``, ``"random"`` (drawn from ``key``) or the
            dimensions in the order they are generated, shape ``(in_size,)``, e.g.
            ``(2, 0, 1)``.
        activation: elementwise nonlinearity after each hidden layer.
        cond_size: length of the condition vector, or None.
        zero_init_output: start the output layer at zero.

    Raises:
        ValueError: if a size is < 1 or ``order`` is not a known name or a permutation.
    """

    layers: tuple[MaskedLinear, ...]
    ranks: Int[Array, " in_size"]
    in_size: int = eqx.field(static=True)
    num_params: int = eqx.field(static=True)
    cond_size: int | None = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        key: PRNGKeyArray,
        in_size: int,
        num_params: int,
        *,
        width: int = 64,
        depth: int = 2,
        order: str | Sequence[int] | Array = "natural",
        activation: Callable[[Array], Array] = jax.nn.relu,
        cond_size: int | None = None,
        zero_init_output: bool = True,
    ):
        if in_size < 1 or num_params < 1 or depth < 1 or width < 1:
            raise ValueError(
                f"MADE: need in_size, num_params, width, depth >= 1; got in_size={in_size}, "
                f"num_params={num_params}, width={width}, depth={depth}."
            )
        order = check_order(order, in_size)
        self.ranks, layers = _build(
            key, order, in_size, num_params, width, depth, cond_size, zero_init_output
        )
        self.layers = tuple(layers)
        self.in_size = in_size
        self.num_params = num_params
        self.cond_size = cond_size
        self.activation = activation

    @property
    def order(self) -> Int[Array, " in_size"]:
        """The dimensions in the order they are generated (``order[0]`` comes first).

        Returns:
            A permutation of ``0..in_size-1``, shape ``(in_size,)``.
        """
        return jnp.argsort(self.ranks)

    def __call__(
        self, x: Float[Array, " in_size"], condition: Float[Array, " cond_size"] | None = None
    ) -> Float[Array, "in_size num_params"]:
        """Parameters for each dimension, from the inputs before it (and the condition).

        Args:
            x: one input, shape ``(in_size,)``.
            condition: shape ``(cond_size,)``; required exactly when built with ``cond_size``.

        Returns:
            Shape ``(in_size, num_params)``.

        Raises:
            ValueError: if a condition is given to an unconditional MADE or missing from a
                conditional one.
        """
        if (condition is None) != (self.cond_size is None):
            raise ValueError(
                f"MADE: built with cond_size={self.cond_size} but got "
                f"{'no condition' if condition is None else 'a condition'}."
            )
        h = x
        for layer in self.layers[:-1]:
            if condition is not None:
                h = jnp.concatenate([h, condition.astype(h.dtype)])
            h = self.activation(layer(h))
        return self.layers[-1](h).reshape(self.in_size, self.num_params)
