"""Keyword-argument factories for flows on vectors: NICE and RealNVP."""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from .._typing import PRNGKeyArray
from ..bijectors._base import AbstractBijector
from ..bijectors._chain import Chain
from ..bijectors._coupling import AdditiveCoupling, AffineCoupling
from ..bijectors._elementwise import Scale
from ..bijectors._masks import vector_mask
from ..bijectors._memory import check_memory_mode, wrap_memory
from ..bijectors._stack import Stack
from ._bases import make_base
from ._flow import Flow


def coupling_stack(
    make_coupling: Callable[..., AbstractBijector],
    *,
    key: PRNGKeyArray,
    dim: int,
    num_layers: int,
    mask: str,
) -> AbstractBijector:
    """``num_layers`` couplings with alternating masks, scan-stacked in (mask, ~mask) pairs.

    ``make_coupling(mask_array, key)`` builds one layer. An odd count adds one final layer.
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1; got {num_layers}.")
    masks = [vector_mask(mask, dim, 0), vector_mask(mask, dim, 1)]

    def pair(k):
        k0, k1 = jax.random.split(k)
        return Chain([make_coupling(masks[0], k0), make_coupling(masks[1], k1)])

    key, last_key = jax.random.split(key)
    layers: list[AbstractBijector] = []
    if num_layers >= 2:
        layers.append(Stack.from_factory(key, pair, num_layers // 2))
    if num_layers % 2:
        layers.append(make_coupling(masks[0], last_key))
    return layers[0] if len(layers) == 1 else Chain(layers)


def _check_dim(dim: int):
    if dim < 2:
        raise ValueError(
            f"Coupling flows need dim >= 2 (half the entries condition the rest); got dim={dim}."
        )


def realnvp(
    *,
    key: PRNGKeyArray,
    dim: int,
    num_layers: int = 8,
    width: int = 64,
    depth: int = 2,
    mask: str = "alternating",
    activation: Callable = jax.nn.relu,
    base: str = "normal",
    cond_dim: int | None = None,
    memory: str = "standard",
) -> Flow:
    """RealNVP (Dinh et al. 2017) on ``dim``-vectors: affine couplings, tanh-bounded scales.

    Args:
        num_layers: coupling layers; masks alternate between a mask and its complement.
        width, depth: the MLP conditioner's hidden width and number of hidden layers.
        mask: ``"alternating"`` (even/odd entries) or ``"half"`` (first/second half).
        base: ``"normal"``, ``"logistic"`` or ``"uniform"``.
        cond_dim: size of a condition vector, for a conditional flow.
        memory: how gradients are taken: ``"standard"``, ``"remat"`` or ``"invertible"``
            (memory flat in depth; see :func:`flowkit.with_memory_mode`).
    """
    _check_dim(dim)
    check_memory_mode("realnvp", memory)
    cond_shape = None if cond_dim is None else (cond_dim,)

    def make(m, k):
        return AffineCoupling(
            m, key=k, width=width, depth=depth, activation=activation, cond_shape=cond_shape
        )

    bijector = coupling_stack(make, key=key, dim=dim, num_layers=num_layers, mask=mask)
    return Flow(wrap_memory(bijector, memory, owner="realnvp"), make_base(base, (dim,)))


def nice(
    *,
    key: PRNGKeyArray,
    dim: int,
    num_layers: int = 4,
    width: int = 64,
    depth: int = 4,
    mask: str = "alternating",
    activation: Callable = jax.nn.relu,
    base: str = "logistic",
    cond_dim: int | None = None,
    memory: str = "standard",
) -> Flow:
    """NICE (Dinh et al. 2015): additive couplings then a diagonal scaling layer.

    Defaults follow the paper: 4 couplings, deep MLPs and a logistic base. ``memory``: as
    in :func:`realnvp`.
    """
    _check_dim(dim)
    check_memory_mode("nice", memory)
    cond_shape = None if cond_dim is None else (cond_dim,)

    def make(m, k):
        return AdditiveCoupling(
            m, key=k, width=width, depth=depth, activation=activation, cond_shape=cond_shape
        )

    couplings = coupling_stack(make, key=key, dim=dim, num_layers=num_layers, mask=mask)
    # In the density direction (the inverse) data goes through the couplings, then the scaling.
    layers: Sequence[AbstractBijector] = [Scale(jnp.zeros((dim,))), couplings]
    return Flow(wrap_memory(Chain(layers), memory, owner="nice"), make_base(base, (dim,)))
