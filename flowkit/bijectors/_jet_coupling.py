"""Jet's coupling (Kolesnikov et al. 2024): an affine coupling over a patch sequence with a
bidirectional transformer (ViT) conditioner, splitting either channels or patches."""

from typing import Literal, get_args

import equinox as eqx
import numpy as np

from .._typing import Array, PRNGKeyArray, Shape
from ..nn._transformer import CausalTransformer
from ._choices import check_choice
from ._coupling import Coupling
from ._transformers import AffineTransformer

JetSplit = Literal["channel", "spatial"]
"""How a Jet coupling splits a ``(T, D)`` sequence: ``"channel"`` (half of every token's
features) or ``"spatial"`` (every other token)."""

JET_SPLITS: tuple[JetSplit, ...] = get_args(JetSplit)


def jet_mask(shape: Shape, split: JetSplit, parity: int = 0) -> np.ndarray:
    """The kept entries of a ``(T, D)`` sequence for a Jet coupling.

    Args:
        shape: the sequence shape ``(T, D)``.
        split: ``"channel"``: the first (``parity=1``: last) ``D // 2`` features of every
            token; ``"spatial"``: every token ``t`` with ``t % 2 == parity`` (``T`` must be
            even so both halves have ``T/2`` tokens).
        parity: which half is kept.

    Returns:
        A boolean array of shape ``(T, D)``, True on the kept entries.

    Raises:
        ValueError: ``split`` is not one of :data:`JET_SPLITS` or does not fit ``shape``.
    """
    check_choice("jet_coupling", "split", split, JET_SPLITS)
    seq_len, features = shape
    mask = np.zeros((seq_len, features), bool)
    if split == "channel":
        if features < 2:
            raise ValueError(f"jet_coupling: a channel split needs D >= 2 features; got {shape}.")
        half = features // 2
        if parity:
            mask[:, features - half :] = True
        else:
            mask[:, :half] = True
        return mask
    if seq_len % 2:
        raise ValueError(
            f"jet_coupling: a spatial split pairs tokens, so T must be even; got shape "
            f"{tuple(shape)}. Use split='channel' or a patch size giving an even count."
        )
    mask[parity::2] = True
    return mask


class _TokenConditioner(eqx.Module):
    """The Coupling conditioner interface over a transformer: kept entries (flat) back to
    tokens, through the transformer, and its outputs flattened."""

    net: CausalTransformer
    tokens: int = eqx.field(static=True)

    def __call__(self, kept: Array, condition: Array | None) -> Array:
        return self.net(kept.reshape(self.tokens, -1), condition).reshape(-1)


def jet_coupling(
    key: PRNGKeyArray,
    shape: Shape,
    *,
    split: JetSplit = "channel",
    parity: int = 0,
    width: int = 64,
    depth: int = 2,
    heads: int = 4,
    cond_shape: Shape | None = None,
) -> Coupling:
    """Jet's coupling on sequences ``(T, D)``: a :class:`Coupling` whose conditioner is a ViT
    (a :class:`flowkit.nn.CausalTransformer` with ``causal=False``) over the kept half.

    Affine, tanh-bounded log-scales; the conditioner's output projection is zero, so a fresh
    layer is the identity.

    Args:
        key: initialises the transformer.
        shape: the event shape ``(T, D)``.
        split: ``"channel"`` (every token keeps half its features and transforms the other
            half) or ``"spatial"`` (the tokens of one parity are kept whole, each
            transforming a token of the other parity).
        parity: which half is kept (see :func:`jet_mask`); alternate it between layers.
        width: the transformer's model width.
        depth: its blocks.
        heads: its attention heads.
        cond_shape: a condition for the transformer, or None.

    Returns:
        A :class:`Coupling` mapping events of ``shape``.

    Raises:
        ValueError: ``split`` is unknown or does not fit ``shape``.
    """
    mask = jet_mask(tuple(shape), split, parity)
    seq_len, features = mask.shape
    kept_tokens = seq_len if split == "channel" else seq_len // 2
    kept_features = int(mask.sum()) // kept_tokens
    moved_per_token = int((~mask).sum()) // kept_tokens
    transformer = AffineTransformer(int((~mask).sum()))
    size = None if cond_shape is None else int(np.prod(cond_shape))
    net = CausalTransformer(
        key,
        kept_tokens,
        kept_features,
        moved_per_token * transformer.num_params,
        width=width,
        depth=depth,
        heads=heads,
        cond_size=size,
        causal=False,
    )
    conditioner = _TokenConditioner(net, kept_tokens)
    cond = None if cond_shape is None else tuple(cond_shape)
    return Coupling(mask, conditioner, transformer, cond)
