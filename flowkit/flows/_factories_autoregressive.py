"""Factories for autoregressive and spline flows: MAF, IAF and NSF (key first)."""

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, get_args

import jax

from .._typing import Array, PRNGKeyArray, Shape
from ..bijectors._autoregressive import InverseAutoregressive, MaskedAutoregressive
from ..bijectors._base import AbstractBijector
from ..bijectors._chain import Chain
from ..bijectors._choices import check_choice
from ..bijectors._masks import MASKS, MaskName
from ..bijectors._permute import Reverse, random_permutation
from ..bijectors._stack import Stack
from ..nn._made import MADE
from ._bases import make_base
from ._factories import coupling_stack, mlp_couplings
from ._factory_args import (
    ConditionerSpec,
    TransformerSpec,
    as_cond_shape,
    check_transformer,
    make_conditioner,
    make_transformer,
)
from ._flow import Flow

PermutationName = Literal["reverse", "random"]
"""The order between autoregressive layers: ``"reverse"`` (each layer reverses the entries)
or ``"random"`` (a random permutation drawn per layer)."""

PERMUTATIONS: tuple[PermutationName, ...] = get_args(PermutationName)

NSFKind = Literal["coupling", "autoregressive"]
"""The layers of :func:`nsf`: ``"coupling"`` (spline couplings) or ``"autoregressive"``
(MAF with spline transformers)."""

NSF_KINDS: tuple[NSFKind, ...] = get_args(NSFKind)

if TYPE_CHECKING:  # distrax (TensorFlow Probability) is slow to import
    import distrax


def _check(owner: str, dim: int, num_layers: int, permutation: str):
    if dim < 1 or num_layers < 1:
        raise ValueError(
            f"{owner}: need dim >= 1 and num_layers >= 1; got dim={dim}, {num_layers=}."
        )
    check_choice(owner, "permutation", permutation, PERMUTATIONS)


def autoregressive_stack(
    key: PRNGKeyArray,
    layer_cls: type[MaskedAutoregressive] | type[InverseAutoregressive],
    *,
    owner: str,
    dim: int,
    num_layers: int,
    transformer: TransformerSpec,
    conditioner: ConditionerSpec | None,
    num_bins: int,
    tail_bound: float,
    width: int,
    depth: int,
    permutation: PermutationName,
    activation: Callable[[Array], Array],
    cond_shape: Shape | None,
) -> AbstractBijector:
    """``num_layers`` (autoregressive layer, permutation) pairs, scan-stacked.

    Each autoregressive layer uses the natural order; the permutation after it (a reversal,
    or a random permutation drawn per layer) changes the order the next layer sees. A
    ``conditioner`` builder must return a MADE (its masks make the layer autoregressive).
    """
    _check(owner, dim, num_layers, permutation)
    check_transformer(owner, transformer)
    cond_size = None if cond_shape is None else math.prod(cond_shape)

    def default_made(k, n_in, num_params, *, cond_size):
        return MADE(
            k,
            n_in,
            num_params,
            width=width,
            depth=depth,
            activation=activation,
            cond_size=cond_size,
        )

    build = default_made if conditioner is None else conditioner

    def make_layer(k):
        k_made, k_perm = jax.random.split(k)
        trans = make_transformer(owner, transformer, dim, num_bins, tail_bound)
        made = make_conditioner(build, k_made, dim, trans.num_params, cond_size)
        if not isinstance(made, MADE):
            raise TypeError(
                f"{owner}: conditioner= must build a flowkit.nn.MADE (its masks make the layer "
                f"autoregressive); it built a {type(made).__name__}."
            )
        layer = layer_cls(made, trans, cond_shape)
        perm = Reverse((dim,)) if permutation == "reverse" else random_permutation(k_perm, (dim,))
        return Chain([layer, perm])

    return Stack.from_factory(key, make_layer, num_layers)


def maf(
    key: PRNGKeyArray,
    *,
    dim: int,
    num_layers: int = 5,
    width: int = 64,
    depth: int = 2,
    transformer: TransformerSpec = "affine",
    conditioner: ConditionerSpec | None = None,
    permutation: PermutationName = "reverse",
    num_bins: int = 8,
    tail_bound: float = 3.0,
    activation: Callable[[Array], Array] = jax.nn.relu,
    base: "str | distrax.Distribution" = "normal",
    cond_shape: int | Shape | None = None,
) -> Flow:
    """Masked autoregressive flow (Papamakarios et al. 2017) on ``dim``-vectors.

    ``log_prob`` takes one pass per layer; sampling takes ``dim`` sequential steps per layer.

    Args:
        key: the PRNG key for the initial parameters.
        dim: the size of an event; events have shape ``(dim,)``.
        num_layers: MAF layers, each followed by a permutation; scan-stacked.
        width: the MADE's hidden width.
        depth: the MADE's number of hidden layers.
        transformer: ``"affine"`` (tanh-bounded log-scale), ``"softplus"`` (softplus scale),
            ``"spline"`` (rational-quadratic with ``num_bins`` bins on ``+/-tail_bound``,
            i.e. an autoregressive neural spline flow), an :class:`AbstractTransformer`, or
            its class.
        conditioner: ``(key, dim, num_params, *, cond_size) -> MADE`` replacing the default
            (e.g. ``functools.partial(fk.nn.MADE, width=256, order="random")``).
        permutation: ``"reverse"`` or ``"random"`` (a different one per layer).
        num_bins: the spline's bins (``transformer="spline"`` only).
        tail_bound: the spline acts on ``[-tail_bound, tail_bound]`` and is the identity
            outside (``transformer="spline"`` only).
        activation: the MADE's hidden activation.
        base: ``"normal"``, ``"logistic"``, ``"uniform"`` or a distrax distribution with
            event shape ``(dim,)``.
        cond_shape: the shape of a condition (an int ``k`` means ``(k,)``); None for an
            unconditional flow.

    Returns:
        A :class:`Flow` on events of shape ``(dim,)``, conditioned on arrays of shape
        ``cond_shape`` if given.

    Raises:
        ValueError: ``dim < 1``, ``num_layers < 1``, ``permutation`` or a ``transformer``
            name is not a valid choice, or ``cond_shape`` is not positive.
        TypeError: ``conditioner`` builds no :class:`flowkit.nn.MADE`, or a ``transformer``
            builder returns no :class:`AbstractTransformer`.
    """
    return _autoregressive_flow(MaskedAutoregressive, "maf", **locals())


def iaf(
    key: PRNGKeyArray,
    *,
    dim: int,
    num_layers: int = 5,
    width: int = 64,
    depth: int = 2,
    transformer: TransformerSpec = "affine",
    conditioner: ConditionerSpec | None = None,
    permutation: PermutationName = "reverse",
    num_bins: int = 8,
    tail_bound: float = 3.0,
    activation: Callable[[Array], Array] = jax.nn.relu,
    base: "str | distrax.Distribution" = "normal",
    cond_shape: int | Shape | None = None,
) -> Flow:
    """Inverse autoregressive flow (Kingma et al. 2016) on ``dim``-vectors.

    Sampling and ``sample_and_log_prob`` take one pass per layer (what variational inference
    needs); ``log_prob`` of given data takes ``dim`` sequential steps per layer.

    Args:
        key: the PRNG key for the initial parameters.
        dim: the size of an event; events have shape ``(dim,)``.
        num_layers: IAF layers, each followed by a permutation; scan-stacked.
        width: the MADE's hidden width.
        depth: the MADE's number of hidden layers.
        transformer: a name (``"affine"``, ``"softplus"``, ``"spline"``), an
            :class:`AbstractTransformer`, or its class, as in :func:`maf`.
        conditioner: ``(key, dim, num_params, *, cond_size) -> MADE`` replacing the default,
            as in :func:`maf`.
        permutation: ``"reverse"`` or ``"random"`` (a different one per layer).
        num_bins: the spline's bins (``transformer="spline"`` only).
        tail_bound: the spline acts on ``[-tail_bound, tail_bound]`` and is the identity
            outside (``transformer="spline"`` only).
        activation: the MADE's hidden activation.
        base: ``"normal"``, ``"logistic"``, ``"uniform"`` or a distrax distribution with
            event shape ``(dim,)``.
        cond_shape: the shape of a condition (an int ``k`` means ``(k,)``); None for an
            unconditional flow.

    Returns:
        A :class:`Flow` on events of shape ``(dim,)``, conditioned on arrays of shape
        ``cond_shape`` if given.

    Raises:
        ValueError: ``dim < 1``, ``num_layers < 1``, ``permutation`` or a ``transformer``
            name is not a valid choice, or ``cond_shape`` is not positive.
        TypeError: ``conditioner`` builds no :class:`flowkit.nn.MADE`, or a ``transformer``
            builder returns no :class:`AbstractTransformer`.
    """
    return _autoregressive_flow(InverseAutoregressive, "iaf", **locals())


def _autoregressive_flow(layer_cls, owner, *, key, dim, base, cond_shape, **sizes):
    bijector = autoregressive_stack(
        key, layer_cls, owner=owner, dim=dim, cond_shape=as_cond_shape(owner, cond_shape),
        **sizes,
    )  # fmt: skip
    return Flow(bijector, make_base(base, (dim,)))


def nsf(
    key: PRNGKeyArray,
    *,
    dim: int,
    kind: NSFKind = "coupling",
    num_layers: int = 6,
    width: int = 64,
    depth: int = 2,
    num_bins: int = 8,
    tail_bound: float = 3.0,
    conditioner: ConditionerSpec | None = None,
    mask: MaskName = "alternating",
    permutation: PermutationName = "reverse",
    activation: Callable[[Array], Array] = jax.nn.relu,
    base: "str | distrax.Distribution" = "normal",
    cond_shape: int | Shape | None = None,
) -> Flow:
    """Neural spline flow (Durkan et al. 2019): rational-quadratic spline layers.

    Args:
        key: the PRNG key for the initial parameters.
        dim: the size of an event; events have shape ``(dim,)`` (``dim >= 2`` for
            ``kind="coupling"``).
        kind: ``"coupling"`` (spline couplings with alternating ``mask``: fast both ways) or
            ``"autoregressive"`` (MAF with spline transformers, permuted by ``permutation``:
            one-pass density, sequential sampling).
        num_layers: spline layers.
        width: the conditioner's hidden width.
        depth: the conditioner's number of hidden layers.
        num_bins: spline bins per entry.
        tail_bound: the splines act on ``[-tail_bound, tail_bound]`` and are the identity
            outside.
        conditioner: a network builder as in :func:`realnvp` (coupling) or :func:`maf`.
        mask: the couplings' mask, as in :func:`realnvp` (``kind="coupling"``).
        permutation: as in :func:`maf` (``kind="autoregressive"``).
        activation: the conditioner's hidden activation.
        base: ``"normal"``, ``"logistic"``, ``"uniform"`` or a distrax distribution with
            event shape ``(dim,)``.
        cond_shape: the shape of a condition (an int ``k`` means ``(k,)``); None for an
            unconditional flow.

    Returns:
        A :class:`Flow` on events of shape ``(dim,)``, conditioned on arrays of shape
        ``cond_shape`` if given.

    Raises:
        ValueError: ``kind``, ``mask`` or ``permutation`` is not one of :data:`NSF_KINDS`,
            ``MASKS`` or :data:`PERMUTATIONS`, or a size does not fit.
        TypeError: an autoregressive ``conditioner`` builds no :class:`flowkit.nn.MADE`.
    """
    check_choice("nsf", "kind", kind, NSF_KINDS)
    check_choice("nsf", "mask", mask, MASKS)
    check_choice("nsf", "permutation", permutation, PERMUTATIONS)
    if kind == "autoregressive":
        return maf(
            key, dim=dim, num_layers=num_layers, width=width, depth=depth,
            transformer="spline", conditioner=conditioner, permutation=permutation,
            num_bins=num_bins, tail_bound=tail_bound, activation=activation, base=base,
            cond_shape=cond_shape,
        )  # fmt: skip
    if dim < 2:
        raise ValueError(f"nsf(kind='coupling') needs dim >= 2; got dim={dim}.")
    cond_shape = as_cond_shape("nsf", cond_shape)
    make = mlp_couplings(
        "nsf", "spline", conditioner, width=width, depth=depth, activation=activation,
        cond_shape=cond_shape, num_bins=num_bins, tail_bound=tail_bound,
    )  # fmt: skip
    bijector = coupling_stack(key, make, owner="nsf", dim=dim, num_layers=num_layers, mask=mask)
    return Flow(bijector, make_base(base, (dim,)))
