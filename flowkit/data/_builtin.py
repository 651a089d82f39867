"""The built-in data sets: scikit-learn's 8x8 digits and the 2-D toys.

Digits: 1,797 images whose pixels are counts 0..16 (each pixel sums a 4x4 block of a
binary 32x32 bitmap). They are kept as they are, a 17-level quantisation
(``num_levels = 17``), not stretched to 8 bits: stretching would leave 239 of 256 levels
empty, and a continuous model would then earn likelihood from the gaps. Dequantization is
``(x + u) / 17`` with ``u ~ U(0, 1)``, and bits/dim use ``num_levels=17`` (at most
``log2 17 = 4.09``). Split: a fixed permutation (numpy seed 0), the first 1,500 for training
and the other 297 for test (the split of ``flowkit train``'s digits demo).
"""

import jax
import numpy as np

from ._dataset import ArrayDataset
from ._toys import TOY_DATASETS

DIGIT_LEVELS = 17
"""Levels per pixel of the 8x8 digits (counts 0..16): their ``num_levels``."""
DIGITS_TRAIN = 1500
TOY_SIZES = {"train": 10_000, "test": 2_000}
_TOY_SPLIT_SEEDS = {"train": 0, "test": 1}


def load_digits_split(split: str) -> ArrayDataset:
    """The 8x8 digits as uint8 levels 0..16 with labels 0..9.

    Args:
        split: ``"train"`` (1,500 images) or ``"test"`` (297).

    Returns:
        ``x`` of shape ``(n, 8, 8, 1)``, labels of shape ``(n,)``, ``num_levels`` 17.
    """
    from sklearn.datasets import load_digits  # lazy: scikit-learn is slow to import

    pixels, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(pixels))
    order = order[:DIGITS_TRAIN] if split == "train" else order[DIGITS_TRAIN:]
    images = np.asarray(pixels[order], np.uint8).reshape(-1, 8, 8, 1)
    return ArrayDataset(images, labels[order].astype(np.int32), DIGIT_LEVELS, f"digits ({split})")


def load_toy_split(name: str, split: str, num_examples: int | None = None) -> ArrayDataset:
    """Points of a 2-D toy; train and test are drawn from different keys.

    Args:
        name: a key of :data:`TOY_DATASETS`.
        split: ``"train"`` or ``"test"``.
        num_examples: how many points; ``None``: 10,000 train, 2,000 test.

    Returns:
        float32 ``x`` of shape ``(num_examples, 2)``, no labels.
    """
    n = TOY_SIZES[split] if num_examples is None else num_examples
    key = jax.random.key(_TOY_SPLIT_SEEDS[split])
    points = np.asarray(TOY_DATASETS[name](key, n), np.float32)
    return ArrayDataset(points, None, None, f"{name} ({split})")
