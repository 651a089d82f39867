"""Coupling layers: half the entries condition an elementwise map of the other half."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, PRNGKeyArray, Shape
from ..nn._mlp import MLP
from ._base import AbstractBijector
from ._transformers import AbstractTransformer, AdditiveTransformer, AffineTransformer


def _stride(idx: tuple[int, ...]) -> int | None:
    """The step of ``idx`` when it is an arithmetic progression (``start::step``), else None."""
    if len(idx) == 1:
        return 1
    step = idx[1] - idx[0]
    if step > 0 and idx == tuple(range(idx[0], idx[0] + step * len(idx), step)):
        return step
    return None


def _take(flat: Array, idx: tuple[int, ...]) -> Array:
    """``flat[idx]`` for static indices, as a (strided) slice when they are evenly spaced.

    A slice fuses with its neighbours; a gather, batched by vmap, costs a transposed copy
    per layer (the alternating mask of RealNVP is a stride-2 slice).
    """
    step = _stride(idx)
    if step is not None:
        end = idx[-1] + 1
        return jax.lax.slice_in_dim(flat, idx[0], end, stride=step)
    return flat[np.asarray(idx)]


def _merge_plan(cond_idx: tuple[int, ...], trans_idx: tuple[int, ...]) -> str:
    """How to put kept and moved entries back in place without a gather.

    ``"kept_first"`` / ``"moved_first"``: the two are contiguous blocks, concatenate them.
    ``"interleave_kept"`` / ``"interleave_moved"``: the even and the odd entries,
    interleaved starting with the named set (which holds entry 0). ``"gather"`` otherwise.
    """
    n = len(cond_idx) + len(trans_idx)
    if cond_idx + trans_idx == tuple(range(n)):
        return "kept_first"
    if trans_idx + cond_idx == tuple(range(n)):
        return "moved_first"
    evens, odds = tuple(range(0, n, 2)), tuple(range(1, n, 2))
    if (cond_idx, trans_idx) == (evens, odds):
        return "interleave_kept"
    if (cond_idx, trans_idx) == (odds, evens):
        return "interleave_moved"
    return "gather"


def _interleave(evens: Array, odds: Array) -> Array:
    """``out[0::2] = evens, out[1::2] = odds`` (``evens`` may be one longer) by reshapes."""
    m = odds.shape[0]
    flat = jnp.stack([evens[:m], odds], axis=-1).reshape(-1)
    return jnp.concatenate([flat, evens[m:]]) if evens.shape[0] > m else flat


def check_mask(owner: str, mask: np.ndarray) -> np.ndarray:
    """``mask`` as a boolean array, or a ValueError unless it keeps some entries and moves
    the others."""
    mask = np.asarray(mask, bool)
    if mask.all() or not mask.any():
        raise ValueError(
            f"{owner}: the mask must keep some entries and transform others; got "
            f"{int(mask.sum())} of {mask.size} entries kept. Use e.g. half_mask(dim) or "
            "alternating_mask(dim)."
        )
    return mask


class Coupling(AbstractBijector):
    """A coupling layer (Dinh et al.): ``y[~mask] = T(x[~mask]; c(x[mask]))``.

    Entries where ``mask`` is True pass through unchanged and feed the ``conditioner``; the
    ``transformer`` (affine, additive, spline, ...) maps each other entry with its own
    parameters. Works on any event shape: entries are taken from the flattened event.
    :func:`affine_coupling`, :func:`additive_coupling`, :func:`spline_coupling`,
    :func:`conv_affine_coupling`, :func:`jet_coupling` and :func:`split_prior` build one
    with a conditioner and transformer made for you.

    Args:
        mask: boolean array of the event shape; True entries are kept.
        conditioner: a callable ``(kept, condition) -> params`` mapping the ``n_kept`` kept
            entries (flat, in index order) and the flattened condition (or None) to
            ``n_moved * transformer.num_params`` numbers.
        transformer: the elementwise map of the moved entries.
        cond_shape: the condition's shape, or None when unconditional.

    Raises:
        ValueError: the mask keeps every entry or none.
    """

    conditioner: Callable
    transformer: AbstractTransformer
    cond_idx: tuple[int, ...] = eqx.field(static=True)
    trans_idx: tuple[int, ...] = eqx.field(static=True)
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(
        self,
        mask: np.ndarray,
        conditioner: Callable,
        transformer: AbstractTransformer,
        cond_shape: Shape | None = None,
    ):
        mask = check_mask("Coupling", mask)
        self.cond_idx = tuple(int(i) for i in np.flatnonzero(mask.ravel()))
        self.trans_idx = tuple(int(i) for i in np.flatnonzero(~mask.ravel()))
        self.conditioner = conditioner
        self.transformer = transformer
        self.shape = mask.shape
        self.cond_shape = None if cond_shape is None else tuple(cond_shape)

    def has_exact_inverse(self) -> bool:
        """As exact as the transformer: the conditioner sees the same kept entries in both
        directions."""
        return self.transformer.has_exact_inverse()

    def _split(self, z, condition):
        flat = z.reshape(-1)
        kept, moved = _take(flat, self.cond_idx), _take(flat, self.trans_idx)
        cond = None if condition is None else condition.reshape(-1)
        params = self.conditioner(kept, cond)
        expected = len(self.trans_idx) * self.transformer.num_params
        if jnp.size(params) != expected:
            raise ValueError(
                f"Coupling: the conditioner returned {jnp.size(params)} numbers "
                f"but the {type(self.transformer).__name__} needs {expected} "
                f"({self.transformer.num_params} per transformed entry x "
                f"{len(self.trans_idx)} entries); make the conditioner's output size "
                f"{expected}."
            )
        return kept, moved, params.reshape(len(self.trans_idx), -1)

    def _merge(self, kept: Array, moved: Array) -> Array:
        """The event from its kept and moved entries (each flat, in index order)."""
        plan = _merge_plan(self.cond_idx, self.trans_idx)
        if plan == "kept_first":
            flat = jnp.concatenate([kept, moved])
        elif plan == "moved_first":
            flat = jnp.concatenate([moved, kept])
        elif plan == "interleave_kept":
            flat = _interleave(kept, moved)
        elif plan == "interleave_moved":
            flat = _interleave(moved, kept)
        else:
            order = np.argsort(np.asarray(self.cond_idx + self.trans_idx))
            flat = jnp.concatenate([kept, moved])[order]
        return flat.reshape(self.shape)

    def forward_and_log_det(self, x, condition=None):
        kept, moved, params = self._split(x, condition)
        moved, log_deriv = self.transformer.forward_and_log_det(moved, params)
        return self._merge(kept, moved), jnp.sum(log_deriv)

    def inverse_and_log_det(self, y, condition=None):
        kept, moved, params = self._split(y, condition)
        moved, log_deriv = self.transformer.inverse_and_log_det(moved, params)
        return self._merge(kept, moved), jnp.sum(log_deriv)


def _mlp(key, mask, transformer, width, depth, activation, cond_shape) -> MLP:
    """The MLP conditioner of a vector coupling: kept entries (+ condition) -> parameters."""
    n_cond, n_trans = int(mask.sum()), int((~mask).sum())
    cond_size = None if cond_shape is None else int(np.prod(cond_shape))
    return MLP(
        key,
        n_cond,
        n_trans * transformer.num_params,
        width=width,
        depth=depth,
        activation=activation,
        cond_size=cond_size,
    )


def mlp_coupling(
    key: PRNGKeyArray,
    mask: np.ndarray,
    transformer: AbstractTransformer,
    *,
    width: int = 64,
    depth: int = 2,
    activation: Callable[[Array], Array] = jax.nn.relu,
    cond_shape: Shape | None = None,
) -> Coupling:
    """A :class:`Coupling` of ``transformer`` with an MLP conditioner whose last layer is
    zero, so a fresh layer is the identity.

    Args:
        key: initialises the MLP.
        mask: boolean array of the event shape; True entries are kept.
        transformer: the elementwise map of the moved entries.
        width: hidden units per MLP layer.
        depth: hidden layers.
        activation: the MLP's nonlinearity.
        cond_shape: the condition's shape (fed to the MLP flattened), or None.

    Returns:
        The coupling layer, mapping events of ``mask.shape``.

    Raises:
        ValueError: the mask keeps every entry or none.
    """
    mask = check_mask("Coupling", mask)
    mlp = _mlp(key, mask, transformer, width, depth, activation, cond_shape)
    return Coupling(mask, mlp, transformer, cond_shape)


def affine_coupling(
    key: PRNGKeyArray,
    mask: np.ndarray,
    *,
    width: int = 64,
    depth: int = 2,
    activation: Callable[[Array], Array] = jax.nn.relu,
    cond_shape: Shape | None = None,
) -> Coupling:
    """RealNVP's affine coupling: an MLP conditioner and a tanh-bounded log-scale.

    The transformer is an :class:`AffineTransformer`; the layer is the identity when fresh.

    Args:
        key: initialises the MLP.
        mask: boolean array of the event shape; True entries are kept.
        width: hidden units per MLP layer.
        depth: hidden layers.
        activation: the MLP's nonlinearity.
        cond_shape: the condition's shape (fed to the MLP flattened), or None.

    Returns:
        A :class:`Coupling` mapping events of ``mask.shape``.

    Raises:
        ValueError: the mask keeps every entry or none.
    """
    transformer = AffineTransformer(int((~np.asarray(mask, bool)).sum()))
    return mlp_coupling(
        key, mask, transformer, width=width, depth=depth, activation=activation,
        cond_shape=cond_shape,
    )  # fmt: skip


def additive_coupling(
    key: PRNGKeyArray,
    mask: np.ndarray,
    *,
    width: int = 64,
    depth: int = 2,
    activation: Callable[[Array], Array] = jax.nn.relu,
    cond_shape: Shape | None = None,
) -> Coupling:
    """NICE's additive coupling ``y2 = x2 + m(x1)``: volume preserving.

    The layer is the identity when fresh.

    Args:
        key: initialises the MLP.
        mask: boolean array of the event shape; True entries are kept.
        width: hidden units per MLP layer.
        depth: hidden layers.
        activation: the MLP's nonlinearity.
        cond_shape: the condition's shape (fed to the MLP flattened), or None.

    Returns:
        A :class:`Coupling` mapping events of ``mask.shape``.

    Raises:
        ValueError: the mask keeps every entry or none.
    """
    return mlp_coupling(
        key, mask, AdditiveTransformer(), width=width, depth=depth, activation=activation,
        cond_shape=cond_shape,
    )  # fmt: skip
