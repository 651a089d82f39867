"""MNIST-style folders of IDX files, and the fetcher that downloads them when it can.

A folder holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally ``.gz``.
"""

import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ._dataset import ArrayDataset
from ._errors import DataError
from ._idx import read_idx

MIRRORS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
"""Where :func:`fetch_mnist` downloads each variant from (``<mirror><file>.gz``)."""

_STEMS = {"train": "train", "test": "t10k"}


def mnist_file_names(split: str) -> tuple[str, str]:
    """The (images, labels) file names of a split, without ``.gz``.

    Args:
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(images, labels)`` file names.
    """
    stem = _STEMS[split]
    return f"{stem}-images-idx3-ubyte", f"{stem}-labels-idx1-ubyte"


def _all_file_names() -> list[str]:
    return [f"{name}.gz" for split in _STEMS for name in mnist_file_names(split)]


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def has_mnist_files(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds all four IDX files (plain or ``.gz``).

    Args:
        folder: the folder to look in.

    Returns:
        True when every file is there.
    """
    folder = Path(folder)
    return all(_find(folder, name) for split in _STEMS for name in mnist_file_names(split))


def read_images(path: Path) -> np.ndarray:
    """IDX images with a channel axis added.

    Args:
        path: an IDX(.gz) file of uint8 images ``(n, H, W)``.

    Returns:
        uint8, shape ``(n, H, W, 1)``.

    Raises:
        DataError: if the file is not IDX or holds no uint8 images of rank 3.
    """
    images = read_idx(path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            path,
            f"wrong shape: expected uint8 images of shape (n, rows, cols); got {images.dtype} "
            f"of shape {images.shape}.",
        )
    return images[..., None]


def read_labels(path: Path, num_images: int) -> np.ndarray:
    """IDX labels, checked against the number of images.

    Args:
        path: an IDX(.gz) file of integer labels.
        num_images: how many images the labels go with.

    Returns:
        int32, shape ``(num_images,)``.

    Raises:
        DataError: if the file is not IDX, holds no integer vector, or not one label per
            image.
    """
    labels = read_idx(path)
    if labels.ndim != 1 or labels.dtype.kind not in "ui":
        raise DataError(
            path,
            f"wrong shape: expected integer labels of shape (n,); got {labels.dtype} of shape "
            f"{labels.shape}.",
        )
    if len(labels) != num_images:
        raise DataError(
            path, f"wrong shape: {len(labels)} labels for {num_images} images (need one each)."
        )
    return labels.astype(np.int32)


def load_mnist_folder(folder: str | os.PathLike, split: str, name: str) -> ArrayDataset:
    """One split of an MNIST-style folder: 8-bit images and labels (if their file is there).

    Args:
        folder: holds the IDX(.gz) files.
        split: ``"train"`` or ``"test"``.
        name: the data set's name, for messages.

    Returns:
        ``x`` uint8 of shape ``(n, H, W, 1)`` (``(n, 28, 28, 1)`` for MNIST), 256 levels.

    Raises:
        DataError: if the split's image file is missing or a file is malformed.
    """
    folder = Path(folder)
    image_name, label_name = mnist_file_names(split)
    image_path = _find(folder, image_name)
    if image_path is None:
        raise DataError(
            folder, f"no {image_name} or {image_name}.gz here (the {split} images of {name})."
        )
    images = read_images(image_path)
    label_path = _find(folder, label_name)
    labels = None if label_path is None else read_labels(label_path, len(images))
    return ArrayDataset(images, labels, 256, f"{name} ({split}) from {folder}")


def _download(url: str, target: Path, timeout: float) -> None:
    partial = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
        partial.write_bytes(response.read())
    os.replace(partial, target)  # atomic: a killed download leaves no half file under the name


def fetch_mnist(
    folder: str | os.PathLike,
    *,
    variant: str = "mnist",
    base_url: str | None = None,
    timeout: float = 5.0,
) -> Path:
    """Make sure ``folder`` holds the four ``.gz`` IDX files of ``variant``.

    Args:
        folder: where the files go (created if missing).
        variant: ``"mnist"`` or ``"fashion-mnist"``.
        base_url: where to download the missing files from; ``None`` is the mirror in
            :data:`MIRRORS`.
        timeout: seconds per connection; without network access it fails at once.

    Returns:
        ``folder`` as a ``Path``.

    Raises:
        DataError: for an unknown variant, or a failed download (saying which files to put
            where).
    """
    if variant not in MIRRORS:
        raise DataError(variant, f"unknown variant; choose one of {', '.join(MIRRORS)}.")
    folder = Path(folder)
    if has_mnist_files(folder):
        return folder
    base_url = base_url or MIRRORS[variant]
    folder.mkdir(parents=True, exist_ok=True)
    for file_name in _all_file_names():
        if _find(folder, file_name.removesuffix(".gz")):
            continue
        url = base_url + file_name
        try:
            _download(url, folder / file_name, timeout)
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise DataError(
                folder,
                f"could not download {url} ({reason}). Without internet access, copy these "
                f"files into {folder}/: {', '.join(_all_file_names())} (from {base_url}), or "
                f"give the path of a folder that holds them.",
            ) from None
    return folder
