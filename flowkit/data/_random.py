"""Counter-based randomness for the loader: every value is a pure function of its coordinates.

The epoch order and the dequantization noise come from SplitMix64 (Steele, Lea and Flood,
2014) applied to counters, vectorised in numpy. Nothing depends on how many processes or
workers ask, in which order, or which numpy version runs, so any process can compute any
part of any batch on its own.
"""

import functools

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_ORDER, _NOISE = 1, 2  # stream tags, so order and noise never share counters


def _mix(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser on a uint64 array, in place (arithmetic wraps mod 2**64)."""
    z ^= z >> np.uint64(30)
    z *= _MUL1
    z ^= z >> np.uint64(27)
    z *= _MUL2
    z ^= z >> np.uint64(31)
    return z


def _key(*words: int) -> np.ndarray:
    """One uint64 key (shape (1,)) folded from non-negative integers."""
    key = np.zeros(1, np.uint64)
    for word in words:
        key = _mix(key + _GOLDEN + np.array([word], np.uint64))
    return key


@functools.lru_cache(maxsize=4)
def epoch_order(seed: int, epoch: int, num_examples: int) -> np.ndarray:
    """The order of the examples in ``epoch``: the argsort of one hash per example.

    Cached: one sort per epoch and process.

    Args:
        seed: the loader's seed.
        epoch: the epoch.
        num_examples: rows in the data set.

    Returns:
        A read-only int64 permutation of ``range(num_examples)``, shape ``(num_examples,)``.
    """
    hashes = _mix(_key(_ORDER, seed, epoch) + np.arange(num_examples, dtype=np.uint64) * _GOLDEN)
    order = np.argsort(hashes, kind="stable")
    order.flags.writeable = False  # shared through the cache
    return order


def uniform_noise(seed: int, epoch: int, rows: np.ndarray, size: int) -> np.ndarray:
    """Uniforms whose row ``i`` is a function of ``(seed, epoch, rows[i])`` only.

    The SplitMix64 stream seeded per example.

    Args:
        seed: the loader's seed.
        epoch: the epoch.
        rows: the data set's rows in the batch, shape ``(n,)``.
        size: uniforms per row.

    Returns:
        float32 in [0, 1), shape ``(n, size)``.
    """
    row_keys = _mix(_key(_NOISE, seed, epoch) ^ rows.astype(np.uint64))
    counters = row_keys[:, None] + np.arange(1, size + 1, dtype=np.uint64) * _GOLDEN
    # The top 24 bits give every float32 multiple of 2**-24 in [0, 1) with equal chance.
    return (_mix(counters) >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
