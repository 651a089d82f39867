"""Coupling masks as pure functions returning static boolean numpy arrays.

Convention: ``True`` marks entries that pass through unchanged and condition the rest.
"""

import numpy as np


def half_mask(dim: int, parity: int = 0) -> np.ndarray:
    """First ``dim // 2`` entries True (``parity=0``) or the complement (``parity=1``)."""
    mask = np.arange(dim) < dim // 2
    return mask if parity == 0 else ~mask


def alternating_mask(dim: int, parity: int = 0) -> np.ndarray:
    """Even entries True (``parity=0``) or odd entries True (``parity=1``)."""
    return np.arange(dim) % 2 == parity


def checkerboard_mask(height: int, width: int, channels: int, parity: int = 0) -> np.ndarray:
    """An ``(H, W, C)`` mask, True where ``(row + col) % 2 == parity``, same in every channel."""
    rows, cols = np.indices((height, width))
    board = (rows + cols) % 2 == parity
    return np.repeat(board[:, :, None], channels, axis=2)


def channel_mask(height: int, width: int, channels: int, parity: int = 0) -> np.ndarray:
    """An ``(H, W, C)`` mask, True on the first ``C // 2`` channels (or the rest if parity=1)."""
    first = np.arange(channels) < channels // 2
    chosen = first if parity == 0 else ~first
    return np.broadcast_to(chosen, (height, width, channels)).copy()


def vector_mask(kind: str, dim: int, parity: int = 0) -> np.ndarray:
    """A 1-D mask by name: ``"half"`` or ``"alternating"``."""
    makers = {"half": half_mask, "alternating": alternating_mask}
    if kind not in makers:
        raise ValueError(f"Unknown mask kind {kind!r}; expected one of {sorted(makers)}.")
    return makers[kind](dim, parity)
