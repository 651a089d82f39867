"""``load_dataset``: one entry point from a name or a path to an :class:`ArrayDataset`."""

import os
from pathlib import Path

from ._builtin import load_digits_split, load_toy_split
from ._dataset import ArrayDataset
from ._errors import DataError
from ._idx import read_idx
from ._mnist import fetch_mnist, has_mnist_files, load_mnist_folder, read_images, read_labels
from ._npz import read_npz
from ._toys import TOY_DATASETS

SPLITS = ("train", "test")
DATASETS = ("digits", "fashion-mnist", "mnist", *TOY_DATASETS)
"""The names :func:`load_dataset` knows; anything else must be a path."""

SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the IDX files."""


def default_data_dir() -> Path:
    """``$FLOWKIT_DATA_DIR``, else ``~/.cache/flowkit``: where downloads go.

    Returns:
        The folder (it may not exist yet).
    """
    return Path(os.environ.get("FLOWKIT_DATA_DIR") or Path.home() / ".cache" / "flowkit")


def _mnist_like(name: str, split: str, data_dir: Path | None, download: bool) -> ArrayDataset:
    folder = (data_dir or default_data_dir()) / name
    if name == "fashion-mnist" and data_dir is None and has_mnist_files(SYSTEM_FASHION_MNIST):
        folder = SYSTEM_FASHION_MNIST
    if download:
        fetch_mnist(folder, variant=name)
    return load_mnist_folder(folder, split, name)


def _single_idx_file(path: Path) -> ArrayDataset:
    images = read_images(path)
    label_path = path.with_name(path.name.replace("images-idx3", "labels-idx1"))
    labels = None
    if label_path != path and label_path.is_file():
        labels = read_labels(label_path, len(images))
    return ArrayDataset(images, labels, 256, str(path))


def _from_path(path: Path, split: str) -> ArrayDataset:
    if path.is_dir():
        return load_mnist_folder(path, split, path.name)
    if path.suffix == ".npz":
        return read_npz(path, split)
    if not path.is_file():
        raise DataError(path, "no such file or folder.")
    read_idx(path)  # header checks first, so a wrong file reports as an IDX problem
    return _single_idx_file(path)


def load_dataset(
    name_or_path: str | os.PathLike,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    num_examples: int | None = None,
) -> ArrayDataset:
    """One split ("train" or "test") of a data set, in memory.

    ``name_or_path`` is one of :data:`DATASETS` or a path:

    - ``digits``: scikit-learn's 8x8 digits, ``(n, 8, 8, 1)`` with 17 levels (embedded).
    - ``mnist``, ``fashion-mnist``: ``(n, 28, 28, 1)`` 8-bit images with labels, read from
      ``data_dir/<name>`` (default :func:`default_data_dir`; Fashion-MNIST also from
      ``/usr/share/datasets/fashion-mnist``), downloaded there first if missing and
      ``download`` is true.
    - ``moons``, ``gaussian-mixture``, ``checkerboard``, ``circles``: 2-D float32 points,
      ``num_examples`` of them (default 10,000 train / 2,000 test).
    - a folder of MNIST-style IDX files, one IDX(.gz) image file (labels are taken from the
      matching ``labels-idx1`` file beside it; the file is the split), or an ``.npz`` file.

    Args:
        name_or_path: a name in :data:`DATASETS`, or a path as above.
        split: ``"train"`` or ``"test"``.
        data_dir: where MNIST-style data sets live; ``None`` is :func:`default_data_dir`.
        download: whether to download a missing MNIST-style data set.
        num_examples: points of a 2-D toy data set; ignored for the others.

    Returns:
        The split, ``x`` of shape ``(n, *event_shape)``.

    Raises:
        DataError: for an unknown split or name (listing the valid ones), a bad path, a
            failed download or a malformed file.
    """
    if split not in SPLITS:
        raise DataError(name_or_path, f"unknown split {split!r}; choose 'train' or 'test'.")
    data_dir = None if data_dir is None else Path(data_dir)
    name = str(name_or_path)
    if name == "digits":
        return load_digits_split(split)
    if name in ("mnist", "fashion-mnist"):
        return _mnist_like(name, split, data_dir, download)
    if name in TOY_DATASETS:
        return load_toy_split(name, split, num_examples)
    path = Path(name_or_path).expanduser()
    if path.exists() or os.sep in name or path.suffix:
        return _from_path(path, split)
    raise DataError(
        name,
        f"unknown data set; choose one of {', '.join(DATASETS)}, or give the path of an .npz "
        f"file, an IDX(.gz) file or a folder of MNIST-style IDX files.",
    )
