"""Keyword-argument factories for autoregressive and spline flows: MAF, IAF and NSF."""

import math
from collections.abc import Callable

import jax

from .._typing import PRNGKeyArray, Shape
from ..bijectors._autoregressive import InverseAutoregressive, MaskedAutoregressive
from ..bijectors._base import AbstractBijector
from ..bijectors._chain import Chain
from ..bijectors._memory import check_memory_mode, wrap_memory
from ..bijectors._permute import Reverse, random_permutation
from ..bijectors._spline import RationalQuadraticSplineTransformer
from ..bijectors._spline_coupling import SplineCoupling
from ..bijectors._stack import Stack
from ..bijectors._transformers import (
    AbstractTransformer,
    AffineTransformer,
    SoftplusAffineTransformer,
)
from ..nn._made import MADE
from ._bases import make_base
from ._factories import coupling_stack
from ._flow import Flow

TRANSFORMERS = ("affine", "softplus", "spline")
PERMUTATIONS = ("reverse", "random")


def make_transformer(
    name: str, dim: int, num_bins: int = 8, tail_bound: float = 3.0
) -> AbstractTransformer:
    """An elementwise transformer by name: ``"affine"`` (tanh-bounded log-scale),
    ``"softplus"`` (softplus scale, unbounded above) or ``"spline"`` (rational-quadratic)."""
    if name == "affine":
        return AffineTransformer(dim)
    if name == "softplus":
        return SoftplusAffineTransformer()
    if name == "spline":
        return RationalQuadraticSplineTransformer(num_bins, tail_bound)
    raise ValueError(f"Unknown transformer {name!r}; expected one of {list(TRANSFORMERS)}.")


def _check(dim: int, num_layers: int, permutation: str):
    if dim < 1 or num_layers < 1:
        raise ValueError(f"need dim >= 1 and num_layers >= 1; got dim={dim}, {num_layers=}.")
    if permutation not in PERMUTATIONS:
        raise ValueError(
            f"Unknown permutation {permutation!r}; expected one of {list(PERMUTATIONS)}."
        )


def autoregressive_stack(
    layer_cls: type[MaskedAutoregressive] | type[InverseAutoregressive],
    *,
    key: PRNGKeyArray,
    dim: int,
    num_layers: int,
    transformer: str,
    num_bins: int,
    tail_bound: float,
    width: int,
    depth: int,
    permutation: str,
    activation: Callable,
    cond_shape: Shape | None,
) -> AbstractBijector:
    """``num_layers`` (autoregressive layer, permutation) pairs, scan-stacked.

    Each autoregressive layer uses the natural order; the permutation after it (a reversal,
    or a random permutation drawn per layer) changes the order the next layer sees.
    """
    _check(dim, num_layers, permutation)
    cond_size = None if cond_shape is None else math.prod(cond_shape)

    def make_layer(k):
        k_made, k_perm = jax.random.split(k)
        trans = make_transformer(transformer, dim, num_bins, tail_bound)
        made = MADE(
            dim,
            trans.num_params,
            width=width,
            depth=depth,
            activation=activation,
            cond_size=cond_size,
            key=k_made,
        )
        layer = layer_cls(made, trans, cond_shape)
        perm = Reverse((dim,)) if permutation == "reverse" else random_permutation(k_perm, (dim,))
        return Chain([layer, perm])

    return Stack.from_factory(key, make_layer, num_layers)


def maf(
    *,
    key: PRNGKeyArray,
    dim: int,
    num_layers: int = 5,
    transformer: str = "affine",
    width: int = 64,
    depth: int = 2,
    permutation: str = "reverse",
    num_bins: int = 8,
    tail_bound: float = 3.0,
    activation: Callable = jax.nn.relu,
    base: str = "normal",
    cond_dim: int | None = None,
    memory: str = "standard",
) -> Flow:
    """Masked autoregressive flow (Papamakarios et al. 2017) on ``dim``-vectors.

    ``log_prob`` takes one pass per layer; sampling takes ``dim`` sequential steps per layer.

    Args:
        num_layers: MAF layers, each followed by a permutation; scan-stacked.
        transformer: ``"affine"`` (tanh-bounded log-scale), ``"softplus"`` (softplus scale)
            or ``"spline"`` (rational-quadratic with ``num_bins`` bins on
            ``+/-tail_bound``, i.e. an autoregressive neural spline flow).
        width, depth: the MADE's hidden width and number of hidden layers.
        permutation: ``"reverse"`` or ``"random"`` (a different one per layer).
        base: ``"normal"``, ``"logistic"`` or ``"uniform"``.
        cond_dim: size of a condition vector, for a conditional flow.
        memory: how gradients are taken (see :func:`flowkit.with_memory_mode`). MAF layers
            have no cheap exact inverse, so ``"invertible"`` stores each layer's input
            (as ``"remat"`` does).
    """
    cond_shape = None if cond_dim is None else (cond_dim,)
    bijector = autoregressive_stack(
        MaskedAutoregressive,
        key=key,
        dim=dim,
        num_layers=num_layers,
        transformer=transformer,
        num_bins=num_bins,
        tail_bound=tail_bound,
        width=width,
        depth=depth,
        permutation=permutation,
        activation=activation,
        cond_shape=cond_shape,
    )
    return Flow(wrap_memory(bijector, memory, owner="maf"), make_base(base, (dim,)))


def iaf(
    *,
    key: PRNGKeyArray,
    dim: int,
    num_layers: int = 5,
    transformer: str = "affine",
    width: int = 64,
    depth: int = 2,
    permutation: str = "reverse",
    num_bins: int = 8,
    tail_bound: float = 3.0,
    activation: Callable = jax.nn.relu,
    base: str = "normal",
    cond_dim: int | None = None,
    memory: str = "standard",
) -> Flow:
    """Inverse autoregressive flow (Kingma et al. 2016) on ``dim``-vectors.

    Sampling and ``sample_and_log_prob`` take one pass per layer (what variational inference
    needs); ``log_prob`` of given data takes ``dim`` sequential steps per layer. Arguments as
    in :func:`maf` (``memory`` too: IAF layers are stored, never rebuilt).
    """
    cond_shape = None if cond_dim is None else (cond_dim,)
    bijector = autoregressive_stack(
        InverseAutoregressive,
        key=key,
        dim=dim,
        num_layers=num_layers,
        transformer=transformer,
        num_bins=num_bins,
        tail_bound=tail_bound,
        width=width,
        depth=depth,
        permutation=permutation,
        activation=activation,
        cond_shape=cond_shape,
    )
    return Flow(wrap_memory(bijector, memory, owner="iaf"), make_base(base, (dim,)))


def nsf(
    *,
    key: PRNGKeyArray,
    dim: int,
    kind: str = "coupling",
    num_layers: int = 6,
    num_bins: int = 8,
    tail_bound: float = 3.0,
    width: int = 64,
    depth: int = 2,
    mask: str = "alternating",
    permutation: str = "reverse",
    activation: Callable = jax.nn.relu,
    base: str = "normal",
    cond_dim: int | None = None,
    memory: str = "standard",
) -> Flow:
    """Neural spline flow (Durkan et al. 2019): rational-quadratic spline layers.

    Args:
        kind: ``"coupling"`` (spline couplings with alternating ``mask``: fast both ways) or
            ``"autoregressive"`` (MAF with spline transformers, permuted by ``permutation``:
            one-pass density, sequential sampling).
        num_bins, tail_bound: spline bins on ``[-tail_bound, tail_bound]``; identity outside.
        width, depth: the conditioner's hidden width and number of hidden layers.
        base: ``"normal"``, ``"logistic"`` or ``"uniform"``.
        cond_dim: size of a condition vector, for a conditional flow.
        memory: how gradients are taken: ``"standard"``, ``"remat"`` or ``"invertible"``
            (spline couplings are rebuilt from their outputs: memory flat in depth; see
            :func:`flowkit.with_memory_mode`).
    """
    check_memory_mode("nsf", memory)
    cond_shape = None if cond_dim is None else (cond_dim,)
    if kind == "autoregressive":
        return maf(
            key=key,
            dim=dim,
            num_layers=num_layers,
            transformer="spline",
            width=width,
            depth=depth,
            permutation=permutation,
            num_bins=num_bins,
            tail_bound=tail_bound,
            activation=activation,
            base=base,
            cond_dim=cond_dim,
            memory=memory,
        )
    if kind != "coupling":
        raise ValueError(f"nsf: unknown kind {kind!r}; expected 'coupling' or 'autoregressive'.")
    if dim < 2:
        raise ValueError(f"nsf(kind='coupling') needs dim >= 2; got dim={dim}.")

    def make(m, k):
        return SplineCoupling(
            m,
            key=k,
            num_bins=num_bins,
            tail_bound=tail_bound,
            width=width,
            depth=depth,
            activation=activation,
            cond_shape=cond_shape,
        )

    bijector = coupling_stack(make, key=key, dim=dim, num_layers=num_layers, mask=mask)
    return Flow(wrap_memory(bijector, memory, owner="nsf"), make_base(base, (dim,)))
