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


def _take(flat: Array, idx: tuple[int, ...]) -> Array:
    """``flat[idx]`` for static indices, as a slice when they are contiguous."""
    start = idx[0]
    if idx == tuple(range(start, start + len(idx))):
        return jax.lax.slice_in_dim(flat, start, start + len(idx))
    return flat[np.asarray(idx)]


class Coupling(AbstractBijector):
    """A generic coupling layer (Dinh et al.): ``y[~mask] = T(x[~mask]; c(x[mask]))``.

    Entries where ``mask`` is True pass through unchanged and feed the ``conditioner``, a
    callable ``(x_cond, condition) -> params`` mapping the ``n_cond`` kept entries (and the
    flattened condition) to ``n_trans * transformer.num_params`` numbers. The
    ``transformer`` (affine, additive, spline, ...) maps each other entry with its own
    parameters. Works on any event shape: entries are taken from the flattened event.
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
        mask = np.asarray(mask, bool)
        if mask.all() or not mask.any():
            raise ValueError("Coupling: the mask must keep some entries and transform others.")
        self.cond_idx = tuple(int(i) for i in np.flatnonzero(mask.ravel()))
        self.trans_idx = tuple(int(i) for i in np.flatnonzero(~mask.ravel()))
        self.conditioner = conditioner
        self.transformer = transformer
        self.shape = mask.shape
        self.cond_shape = None if cond_shape is None else tuple(cond_shape)

    def _split(self, z, condition):
        flat = z.reshape(-1)
        kept, moved = _take(flat, self.cond_idx), _take(flat, self.trans_idx)
        cond = None if condition is None else condition.reshape(-1)
        params = self.conditioner(kept, cond).reshape(len(self.trans_idx), -1)
        return kept, moved, params

    def _merge(self, kept, moved):
        flat = jnp.concatenate([kept, moved])
        order = np.argsort(np.asarray(self.cond_idx + self.trans_idx))
        if not np.array_equal(order, np.arange(order.size)):
            flat = flat[order]
        return flat.reshape(self.shape)

    def _forward_and_log_det(self, x, condition):
        kept, moved, params = self._split(x, condition)
        moved, log_deriv = self.transformer.forward_and_log_det(moved, params)
        return self._merge(kept, moved), jnp.sum(log_deriv)

    def _inverse_and_log_det(self, y, condition):
        kept, moved, params = self._split(y, condition)
        moved, log_deriv = self.transformer.inverse_and_log_det(moved, params)
        return self._merge(kept, moved), jnp.sum(log_deriv)


def _mlp_coupling(
    mask, transformer, key, width, depth, activation, cond_shape
) -> tuple[MLP, tuple[int, ...] | None]:
    n_cond, n_trans = int(mask.sum()), int((~mask).sum())
    cond_size = None if cond_shape is None else int(np.prod(cond_shape))
    mlp = MLP(
        n_cond,
        n_trans * transformer.num_params,
        width=width,
        depth=depth,
        activation=activation,
        cond_size=cond_size,
        key=key,
    )
    return mlp, cond_shape


def AffineCoupling(
    mask: np.ndarray,
    *,
    key: PRNGKeyArray,
    width: int = 64,
    depth: int = 2,
    activation: Callable = jax.nn.relu,
    cond_shape: Shape | None = None,
) -> Coupling:
    """RealNVP affine coupling with an MLP conditioner and tanh-bounded log-scale.

    The conditioner's last layer is zero, so a fresh layer is the identity.
    """
    mask = np.asarray(mask, bool)
    transformer = AffineTransformer(int((~mask).sum()))
    mlp, cond_shape = _mlp_coupling(mask, transformer, key, width, depth, activation, cond_shape)
    return Coupling(mask, mlp, transformer, cond_shape)


def AdditiveCoupling(
    mask: np.ndarray,
    *,
    key: PRNGKeyArray,
    width: int = 64,
    depth: int = 2,
    activation: Callable = jax.nn.relu,
    cond_shape: Shape | None = None,
) -> Coupling:
    """NICE additive coupling ``y2 = x2 + m(x1)``: volume preserving."""
    mask = np.asarray(mask, bool)
    transformer = AdditiveTransformer()
    mlp, cond_shape = _mlp_coupling(mask, transformer, key, width, depth, activation, cond_shape)
    return Coupling(mask, mlp, transformer, cond_shape)
