"""Data for training flows: sources (digits, MNIST-style IDX, ``.npz``, 2-D toys) and a
Grain loader with per-epoch shuffling, dequantization, multi-process sharding and a
checkpointable iterator state."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._builtin import DIGIT_LEVELS as DIGIT_LEVELS
from ._dataset import ArrayDataset as ArrayDataset
from ._devices import split_for_devices as split_for_devices
from ._devices import to_global_array as to_global_array
from ._devices import to_pmap_batch as to_pmap_batch
from ._errors import DataError as DataError
from ._idx import read_idx as read_idx
from ._load import DATASETS as DATASETS
from ._load import default_data_dir as default_data_dir
from ._load import load_dataset as load_dataset
from ._mnist import MIRRORS as MIRRORS
from ._mnist import fetch_mnist as fetch_mnist
from ._npz import NoSplitError as NoSplitError
from ._npz import read_npz as read_npz
from ._toys import TOY_DATASETS as TOY_DATASETS
from ._toys import checkerboard as checkerboard
from ._toys import circles as circles
from ._toys import gaussian_mixture as gaussian_mixture
from ._toys import two_moons as two_moons

if _TYPE_CHECKING:
    from ._iterator import LoaderIterator as LoaderIterator
    from ._loader import Loader as Loader

# The Grain pipeline (Grain imports orbax; seconds to import) loads on first use (PEP 562), so
# the sources and toy data sets, re-exported by ``import flowkit``, stay light.
_LAZY = {"Loader": "._loader", "LoaderIterator": "._iterator"}


__all__ = [
    "DATASETS",
    "DIGIT_LEVELS",
    "MIRRORS",
    "TOY_DATASETS",
    "ArrayDataset",
    "DataError",
    "Loader",
    "LoaderIterator",
    "NoSplitError",
    "checkerboard",
    "circles",
    "default_data_dir",
    "fetch_mnist",
    "gaussian_mixture",
    "load_dataset",
    "read_idx",
    "read_npz",
    "split_for_devices",
    "to_global_array",
    "to_pmap_batch",
    "two_moons",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
