"""What factories accept: names or objects for the base, transformer and conditioner."""

from collections.abc import Callable
from typing import Any, Literal, get_args

import equinox as eqx
import jax

from .._typing import PRNGKeyArray, Shape
from ..bijectors._choices import check_choice
from ..bijectors._spline import RationalQuadraticSplineTransformer
from ..bijectors._transformers import (
    AbstractTransformer,
    AdditiveTransformer,
    AffineTransformer,
    SoftplusAffineTransformer,
)

TransformerName = Literal["affine", "softplus", "spline", "additive"]
"""A coupling or autoregressive layer's elementwise map by name: ``"affine"`` (tanh-bounded
log-scale), ``"softplus"`` (softplus scale), ``"spline"`` (rational-quadratic) or
``"additive"`` (a shift)."""

TRANSFORMERS: tuple[TransformerName, ...] = get_args(TransformerName)

# A name, a transformer, its class, or a function ``num_entries -> transformer`` (for
# transformers with per-entry parameters, such as AffineTransformer's rescale).
TransformerSpec = TransformerName | AbstractTransformer | Callable[[int], AbstractTransformer]
# A function ``(key, in_size, out_size, *, cond_size) -> network``, e.g. ``MLP`` or
# ``functools.partial(MLP, width=128)``; the network maps ``(x, condition)`` to parameters.
ConditionerSpec = Callable[..., Callable]


def as_cond_shape(owner: str, cond_shape: int | Shape | None) -> Shape | None:
    """``cond_shape`` as a tuple (an int ``k`` means ``(k,)``); None stays None."""
    if cond_shape is None:
        return None
    shape = (cond_shape,) if isinstance(cond_shape, int) else tuple(cond_shape)
    if not shape or not all(isinstance(d, int) and d >= 1 for d in shape):
        raise ValueError(
            f"{owner}: cond_shape must be a positive int or a tuple of positive ints; "
            f"got {cond_shape!r}."
        )
    return shape


def check_transformer(owner: str, spec: TransformerSpec, option: str = "transformer") -> None:
    """Raise unless a named ``spec`` is one of :data:`TRANSFORMERS` (objects and builders
    pass): factories call it before building layers, so the error is not raised mid-trace.

    Raises:
        ValueError: naming the valid names and what came.
    """
    if isinstance(spec, str):
        check_choice(
            owner,
            option,
            spec,
            TRANSFORMERS,
            also="an AbstractTransformer, or a function num_entries -> transformer",
        )


def make_transformer(
    owner: str, spec: TransformerSpec, num_entries: int, num_bins: int = 8, tail_bound: float = 3.0
) -> AbstractTransformer:
    """The transformer for ``num_entries`` entries from a name, an object or a builder.

    Names: ``"affine"`` (tanh-bounded log-scale), ``"softplus"`` (softplus scale, unbounded
    above), ``"spline"`` (rational-quadratic, ``num_bins`` on ``+/-tail_bound``) and
    ``"additive"`` (a shift).
    """
    check_transformer(owner, spec)
    if isinstance(spec, str):  # one of TRANSFORMERS
        named: dict[str, Callable[[], AbstractTransformer]] = {
            "affine": lambda: AffineTransformer(num_entries),
            "softplus": SoftplusAffineTransformer,
            "spline": lambda: RationalQuadraticSplineTransformer(num_bins, tail_bound),
            "additive": AdditiveTransformer,
        }
        return named[spec]()
    transformer = spec if isinstance(spec, AbstractTransformer) else spec(num_entries)
    if not isinstance(transformer, AbstractTransformer):
        raise TypeError(
            f"{owner}: transformer= built a {type(transformer).__name__}, not an "
            "AbstractTransformer."
        )
    for leaf in jax.tree_util.tree_leaves(eqx.filter(transformer, eqx.is_array)):
        if leaf.ndim and leaf.shape[0] != num_entries:
            raise ValueError(
                f"{owner}: the {type(transformer).__name__} holds per-entry parameters of "
                f"shape {leaf.shape}, but a layer here transforms {num_entries} entries; pass "
                "its class (or a function num_entries -> transformer) to build one per layer."
            )
    return transformer


def make_conditioner(
    spec: ConditionerSpec,
    key: PRNGKeyArray,
    in_size: int,
    out_size: int,
    cond_size: int | None,
) -> Any:
    """``spec(key, in_size, out_size, cond_size=cond_size)``: the user's network builder."""
    return spec(key, in_size, out_size, cond_size=cond_size)
