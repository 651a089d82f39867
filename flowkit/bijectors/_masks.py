"""Coupling masks as pure functions returning static boolean numpy arrays.

Convention: ``True`` marks entries that pass through unchanged and condition the rest.
"""

from typing import Literal, get_args

import numpy as np

from ._choices import check_choice

MaskName = Literal["alternating", "half"]
"""A 1-D coupling mask by name: ``"alternating"`` (even/odd entries) or ``"half"``
(first/second half)."""

MASKS: tuple[MaskName, ...] = get_args(MaskName)


def half_mask(dim: int, parity: int = 0) -> np.ndarray:
    """First ``dim // 2`` entries True (``parity=0``) or the complement (``parity=1``).

    Args:
        dim: the number of entries.
        parity: 0 for the mask, 1 for its complement.

    Returns:
        A boolean array of shape ``(dim,)``, True on the entries that pass through.
    """
    mask = np.arange(dim) < dim // 2
    return mask if parity == 0 else ~mask


def alternating_mask(dim: int, parity: int = 0) -> np.ndarray:
    """Even entries True (``parity=0``) or odd entries True (``parity=1``).

    Args:
        dim: the number of entries.
        parity: 0 for the mask, 1 for its complement.

    Returns:
        A boolean array of shape ``(dim,)``, True on the entries that pass through.
    """
    return np.arange(dim) % 2 == parity


def checkerboard_mask(height: int, width: int, channels: int, parity: int = 0) -> np.ndarray:
    """An ``(H, W, C)`` mask, True where ``(row + col) % 2 == parity``, same in every channel.

    Args:
        height: ``H``, the image height.
        width: ``W``, the image width.
        channels: ``C``, the number of channels.
        parity: 0 for the mask, 1 for its complement.

    Returns:
        A boolean array of shape ``(H, W, C)``, True on the entries that pass through.
    """
    rows, cols = np.indices((height, width))
    board = (rows + cols) % 2 == parity
    return np.repeat(board[:, :, None], channels, axis=2)


def channel_mask(height: int, width: int, channels: int, parity: int = 0) -> np.ndarray:
    """An ``(H, W, C)`` mask, True on the first ``C // 2`` channels (or the rest if parity=1).

    Args:
        height: ``H``, the image height.
        width: ``W``, the image width.
        channels: ``C``, the number of channels.
        parity: 0 for the mask, 1 for its complement.

    Returns:
        A boolean array of shape ``(H, W, C)``, True on the entries that pass through.
    """
    first = np.arange(channels) < channels // 2
    chosen = first if parity == 0 else ~first
    return np.broadcast_to(chosen, (height, width, channels)).copy()


def vector_mask(
    kind: MaskName, dim: int, parity: int = 0, *, owner: str = "vector_mask"
) -> np.ndarray:
    """A 1-D mask of ``dim`` entries by name (one of :data:`MASKS`).

    Args:
        kind: ``"alternating"`` (:func:`alternating_mask`) or ``"half"`` (:func:`half_mask`).
        dim: the number of entries.
        parity: which of the mask and its complement.
        owner: the public function named in an error, e.g. ``"realnvp"``.

    Returns:
        A boolean array of shape ``(dim,)``, True on the entries that pass through.

    Raises:
        ValueError: ``kind`` is not one of :data:`MASKS`.
    """
    check_choice(owner, "mask", kind, MASKS)
    return half_mask(dim, parity) if kind == "half" else alternating_mask(dim, parity)
