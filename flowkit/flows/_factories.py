"""Factories for coupling flows on vectors: NICE and RealNVP (key first, sizes by keyword)."""

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, PRNGKeyArray, Shape
from ..bijectors._base import AbstractBijector
from ..bijectors._chain import Chain
from ..bijectors._coupling import Coupling
from ..bijectors._elementwise import Scale
from ..bijectors._masks import MaskName, vector_mask
from ..bijectors._stack import Stack
from ..nn._mlp import MLP
from ._bases import make_base
from ._factory_args import (
    ConditionerSpec,
    TransformerSpec,
    as_cond_shape,
    check_transformer,
    make_conditioner,
    make_transformer,
)
from ._flow import Flow

if TYPE_CHECKING:  # distrax (TensorFlow Probability) is slow to import
    import distrax


def coupling_stack(
    key: PRNGKeyArray,
    make_coupling: Callable[[PRNGKeyArray, np.ndarray], AbstractBijector],
    *,
    owner: str,
    dim: int,
    num_layers: int,
    mask: MaskName,
) -> AbstractBijector:
    """``num_layers`` couplings with alternating masks, scan-stacked in (mask, ~mask) pairs.

    ``make_coupling(key, mask_array)`` builds one layer. An odd count adds one final layer.
    ``owner``: the public factory named in errors.
    """
    if num_layers < 1:
        raise ValueError(f"{owner}: num_layers must be >= 1; got {num_layers}.")
    masks = [vector_mask(mask, dim, p, owner=owner) for p in (0, 1)]

    def pair(k):
        k0, k1 = jax.random.split(k)
        return Chain([make_coupling(k0, masks[0]), make_coupling(k1, masks[1])])

    key, last_key = jax.random.split(key)
    layers: list[AbstractBijector] = []
    if num_layers >= 2:
        layers.append(Stack.from_factory(key, pair, num_layers // 2))
    if num_layers % 2:
        layers.append(make_coupling(last_key, masks[0]))
    return layers[0] if len(layers) == 1 else Chain(layers)


def mlp_couplings(
    owner: str,
    transformer: TransformerSpec,
    conditioner: ConditionerSpec | None,
    *,
    width: int,
    depth: int,
    activation: Callable[[Array], Array],
    cond_shape: Shape | None,
    num_bins: int = 8,
    tail_bound: float = 3.0,
) -> Callable[[PRNGKeyArray, np.ndarray], Coupling]:
    """``(key, mask) -> Coupling`` with the given transformer and (by default MLP)
    conditioner, whose last layer starts at zero so a fresh layer is the identity."""
    check_transformer(owner, transformer)
    cond_size = None if cond_shape is None else math.prod(cond_shape)

    def default_mlp(k, n_in, n_out, *, cond_size):
        return MLP(
            k, n_in, n_out, width=width, depth=depth, activation=activation, cond_size=cond_size
        )

    build = default_mlp if conditioner is None else conditioner

    def make(k, mask):
        n_trans = int((~mask).sum())
        trans = make_transformer(owner, transformer, n_trans, num_bins, tail_bound)
        net = make_conditioner(build, k, int(mask.sum()), n_trans * trans.num_params, cond_size)
        return Coupling(mask, net, trans, cond_shape)

    return make


def _check_dim(owner: str, dim: int):
    if dim < 2:
        raise ValueError(
            f"{owner}: coupling flows need dim >= 2 (half the entries condition the rest); "
            f"got dim={dim}."
        )


def realnvp(
    key: PRNGKeyArray,
    *,
    dim: int,
    num_layers: int = 8,
    width: int = 64,
    depth: int = 2,
    mask: MaskName = "alternating",
    activation: Callable[[Array], Array] = jax.nn.relu,
    transformer: TransformerSpec = "affine",
    conditioner: ConditionerSpec | None = None,
    base: "str | distrax.Distribution" = "normal",
    cond_shape: int | Shape | None = None,
) -> Flow:
    """RealNVP (Dinh et al. 2017) on ``dim``-vectors: affine couplings, tanh-bounded scales.

    Args:
        key: the PRNG key for the initial parameters.
        dim: the size of an event; events have shape ``(dim,)``, ``dim >= 2``.
        num_layers: coupling layers; masks alternate between a mask and its complement.
        width: the MLP conditioner's hidden width.
        depth: the MLP conditioner's number of hidden layers.
        mask: ``"alternating"`` (even/odd entries) or ``"half"`` (first/second half).
        activation: the MLP conditioner's hidden activation.
        transformer: ``"affine"`` (the paper's), another name (``"softplus"``,
            ``"spline"``, ``"additive"``), an :class:`AbstractTransformer`, or its class.
        conditioner: ``(key, in_size, out_size, *, cond_size) -> network`` replacing the MLP
            (e.g. ``functools.partial(fk.nn.MLP, width=256)``).
        base: ``"normal"``, ``"logistic"``, ``"uniform"`` or a distrax distribution with
            event shape ``(dim,)``.
        cond_shape: the shape of a condition (an int ``k`` means ``(k,)``); None for an
            unconditional flow.

    Returns:
        A :class:`Flow` on events of shape ``(dim,)``, conditioned on arrays of shape
        ``cond_shape`` if given.

    Raises:
        ValueError: ``dim < 2``, ``num_layers < 1``, ``mask`` or a ``transformer`` name is not
            a valid choice, or ``cond_shape`` is not positive.
        TypeError: a ``transformer`` builder returns no :class:`AbstractTransformer`.
    """
    _check_dim("realnvp", dim)
    cond_shape = as_cond_shape("realnvp", cond_shape)
    make = mlp_couplings(
        "realnvp", transformer, conditioner, width=width, depth=depth,
        activation=activation, cond_shape=cond_shape,
    )  # fmt: skip
    bijector = coupling_stack(key, make, owner="realnvp", dim=dim, num_layers=num_layers, mask=mask)
    return Flow(bijector, make_base(base, (dim,)))


def nice(
    key: PRNGKeyArray,
    *,
    dim: int,
    num_layers: int = 4,
    width: int = 64,
    depth: int = 4,
    mask: MaskName = "alternating",
    activation: Callable[[Array], Array] = jax.nn.relu,
    conditioner: ConditionerSpec | None = None,
    base: "str | distrax.Distribution" = "logistic",
    cond_shape: int | Shape | None = None,
) -> Flow:
    """NICE (Dinh et al. 2015): additive couplings then a diagonal scaling layer.

    Defaults follow the paper: 4 couplings, deep MLPs and a logistic base.

    Args:
        key: the PRNG key for the initial parameters.
        dim: the size of an event; events have shape ``(dim,)``, ``dim >= 2``.
        num_layers: additive coupling layers; masks alternate between a mask and its
            complement.
        width: the MLP conditioner's hidden width.
        depth: the MLP conditioner's number of hidden layers.
        mask: ``"alternating"`` (even/odd entries) or ``"half"`` (first/second half).
        activation: the MLP conditioner's hidden activation.
        conditioner: ``(key, in_size, out_size, *, cond_size) -> network`` replacing the MLP,
            as in :func:`realnvp`.
        base: ``"normal"``, ``"logistic"``, ``"uniform"`` or a distrax distribution with
            event shape ``(dim,)``.
        cond_shape: the shape of a condition (an int ``k`` means ``(k,)``); None for an
            unconditional flow.

    Returns:
        A :class:`Flow` on events of shape ``(dim,)``, conditioned on arrays of shape
        ``cond_shape`` if given.

    Raises:
        ValueError: ``dim < 2``, ``num_layers < 1``, ``mask`` is not a valid choice, or
            ``cond_shape`` is not positive.
    """
    _check_dim("nice", dim)
    cond_shape = as_cond_shape("nice", cond_shape)
    make = mlp_couplings(
        "nice", "additive", conditioner, width=width, depth=depth, activation=activation,
        cond_shape=cond_shape,
    )  # fmt: skip
    couplings = coupling_stack(key, make, owner="nice", dim=dim, num_layers=num_layers, mask=mask)
    # In the density direction (the inverse) data goes through the couplings, then the scaling.
    layers: Sequence[AbstractBijector] = [Scale(jnp.zeros((dim,))), couplings]
    return Flow(Chain(layers), make_base(base, (dim,)))
