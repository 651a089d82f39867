"""Jet's coupling (Kolesnikov et al. 2024): an affine coupling over a patch sequence with a
bidirectional transformer (ViT) conditioner, splitting either channels or patches."""

import equinox as eqx
import numpy as np

from .._typing import Array, PRNGKeyArray, Shape
from ..nn._transformer import CausalTransformer
from ._coupling import Coupling
from ._transformers import AffineTransformer

SPLITS = ("channel", "spatial")


def jet_mask(shape: Shape, split: str, parity: int = 0) -> np.ndarray:
    """The kept entries of a ``(T, D)`` sequence: the first (``parity=1``: last) ``D // 2``
    features of every token (``"channel"``), or every token ``t`` with ``t % 2 == parity``
    (``"spatial"``; ``T`` must be even so both halves have ``T/2`` tokens)."""
    seq_len, features = shape
    mask = np.zeros((seq_len, features), bool)
    if split == "channel":
        if features < 2:
            raise ValueError(f"JetCoupling: a channel split needs D >= 2 features; got {shape}.")
        half = features // 2
        if parity:
            mask[:, features - half :] = True
        else:
            mask[:, :half] = True
    elif split == "spatial":
        if seq_len % 2:
            raise ValueError(
                f"JetCoupling: a spatial split pairs tokens, so T must be even; got shape "
                f"{tuple(shape)}. Use split='channel' or a patch size giving an even count."
            )
        mask[parity::2] = True
    else:
        raise ValueError(f"JetCoupling: unknown split {split!r}; expected one of {SPLITS}.")
    return mask


class _TokenConditioner(eqx.Module):
    """The Coupling conditioner interface over a transformer: kept entries (flat) back to
    tokens, through the transformer, and its outputs flattened."""

    net: CausalTransformer
    tokens: int = eqx.field(static=True)

    def __call__(self, kept: Array, condition: Array | None) -> Array:
        return self.net(kept.reshape(self.tokens, -1), condition).reshape(-1)


class JetCoupling(Coupling):
    """A :class:`Coupling` on sequences ``(T, D)`` whose conditioner is a ViT (a
    :class:`flowkit.CausalTransformer` with ``causal=False``) over the kept half.

    ``split="channel"``: every token keeps half its features and transforms the other half;
    ``split="spatial"``: the tokens of one parity are kept whole, each transforming a token of
    the other parity. Alternate ``parity`` (and splits) between layers. Affine, tanh-bounded
    log-scales; the conditioner's output projection is zero, so a fresh layer is the identity.
    """

    def __init__(
        self,
        key: PRNGKeyArray,
        shape: Shape,
        *,
        split: str = "channel",
        parity: int = 0,
        width: int = 64,
        depth: int = 2,
        heads: int = 4,
        cond_shape: Shape | None = None,
    ):
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
        super().__init__(mask, conditioner, transformer, cond)
