"""Data sources: IDX(.gz) parsing, MNIST-style folders and the fetcher (local files only), .npz
keys, the built-in names, and one clear error per kind of bad file."""

import gzip
import re
import struct
import time
import urllib.error

import numpy as np
import pytest

from flowkit.cli._data import training_data
from flowkit.data import (
    DATASETS,
    MIRRORS,
    DataError,
    NoSplitError,
    fetch_mnist,
    load_dataset,
    read_idx,
    read_npz,
)

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, CODES[array.dtype.type], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, payload: bytes, gz: bool):
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def mnist_folder(folder, rng, sizes=(12, 5), gz=True):
    """The four MNIST files with small random 7x5 images; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for stem, n in zip(("train", "t10k"), sizes, strict=True):
        images = rng.integers(0, 256, (n, 7, 5), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        write(folder / f"{stem}-images-idx3-ubyte{suffix}", idx_bytes(images), gz)
        write(folder / f"{stem}-labels-idx1-ubyte{suffix}", idx_bytes(labels), gz)
        arrays[stem] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.int16, np.int32, np.float32):
        array = (rng.standard_normal((3, 4, 2)) * 50).astype(dtype)
        path = write(tmp_path / f"a-{dtype.__name__}", idx_bytes(array), gz)
        got = read_idx(path)
        assert got.dtype == dtype and got.dtype.isnative
        np.testing.assert_array_equal(got, array)


GOOD = idx_bytes(np.arange(160, dtype=np.uint8).reshape(10, 4, 4))
BAD_FILES = {
    "magic": (
        b"\x08\x03" + GOOD[2:],
        False,
        "not an IDX file: the magic number must start with two zero bytes; got 0x08030803",
    ),
    "type": (b"\x00\x00\x07\x03" + GOOD[4:], False, r"unknown data type 0x07"),
    "short header": (GOOD[:9], False, r"truncated IDX header: 3 dimensions need 16 bytes"),
    "truncated": (
        GOOD[:116],
        False,
        r"truncated IDX file: the header promises 10x4x4 uint8 "
        r"values \(160 bytes\), but only 100 bytes of data follow",
    ),
    "extra": (GOOD + b"\x00\x00", False, r"2 extra bytes follow the data"),
    "truncated gzip": (gzip.compress(GOOD)[:-20], None, r"truncated gzip file"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_idx_files_name_the_file_and_the_problem(tmp_path, case):
    payload, gz, message = BAD_FILES[case]
    path = write(tmp_path / "train-images-idx3-ubyte", payload, bool(gz))
    with pytest.raises(DataError, match=re.escape(str(path)) + ": .*" + message):
        read_idx(path)
    with pytest.raises(DataError, match=message):  # and through the folder loader
        load_dataset(tmp_path)


def test_mnist_folder_splits_and_single_file(tmp_path):
    arrays = mnist_folder(tmp_path / "m", np.random.default_rng(1))
    for split, stem in (("train", "train"), ("test", "t10k")):
        data = load_dataset(tmp_path / "m", split)
        images, labels = arrays[stem]
        assert data.num_levels == 256 and data.event_shape == (7, 5, 1)
        np.testing.assert_array_equal(data.x[..., 0], images)
        np.testing.assert_array_equal(data.labels, labels)
    one = load_dataset(tmp_path / "m" / "t10k-images-idx3-ubyte.gz")  # labels found beside it
    np.testing.assert_array_equal(one.labels, arrays["t10k"][1])


def test_mnist_folder_shape_errors(tmp_path):
    rng = np.random.default_rng(2)
    mnist_folder(tmp_path, rng, gz=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(11, np.uint8)))
    with pytest.raises(DataError, match=re.escape(f"{labels}: wrong shape: 11 labels for 12 im")):
        load_dataset(tmp_path)
    images = tmp_path / "t10k-images-idx3-ubyte"
    images.write_bytes(idx_bytes(np.zeros((5, 35), np.uint8)))
    with pytest.raises(
        DataError,
        match=r"expected uint8 images of shape \(n, rows, cols\); "
        r"got uint8 of shape \(5, 35\)",
    ):
        load_dataset(tmp_path, "test")


def test_fetch_mnist_downloads_from_a_mirror(tmp_path):
    arrays = mnist_folder(tmp_path / "mirror", np.random.default_rng(3))
    target = tmp_path / "cache" / "mnist"
    assert fetch_mnist(target, base_url=(tmp_path / "mirror").as_uri() + "/") == target
    assert sorted(p.name for p in target.iterdir()) == sorted(
        p.name for p in (tmp_path / "mirror").iterdir()
    )  # the four files, no partial downloads left
    np.testing.assert_array_equal(load_dataset(target, "test").x[..., 0], arrays["t10k"][0])
    fetch_mnist(target, base_url="http://unused.invalid/")  # all present: no download


def test_fetch_mnist_offline_fails_at_once_saying_what_to_put_where(tmp_path, monkeypatch):
    timeouts = []

    def offline(url, timeout):
        timeouts.append(timeout)
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr("flowkit.data._mnist.urllib.request.urlopen", offline)
    start = time.perf_counter()
    with pytest.raises(DataError) as error:
        load_dataset("mnist", data_dir=tmp_path)
    assert time.perf_counter() - start < 1.0 and timeouts == [5.0]
    message = str(error.value)
    url = MIRRORS["mnist"] + "train-images-idx3-ubyte.gz"
    assert f"could not download {url} (network is unreachable)" in message
    assert (
        f"copy these files into {tmp_path / 'mnist'}/: train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"
        in message
    )


def test_npz_keys_levels_and_continuous_data(tmp_path):
    rng = np.random.default_rng(4)
    x_train = rng.integers(0, 256, (6, 3, 3), dtype=np.uint8)
    path = tmp_path / "keras.npz"
    np.savez(path, x_train=x_train, y_train=np.arange(6), x_test=x_train[:2], y_test=[1, 2])
    train, test = read_npz(path), load_dataset(path, "test")
    assert train.event_shape == (3, 3, 1) and train.num_levels == 256
    np.testing.assert_array_equal(test.labels, [1, 2])
    np.savez(tmp_path / "levels.npz", x=rng.integers(0, 17, (5, 64)), num_levels=17)
    assert read_npz(tmp_path / "levels.npz").num_levels == 17
    np.savez(tmp_path / "points.npz", x=rng.standard_normal((5, 2)))
    points = load_dataset(tmp_path / "points.npz")
    assert points.num_levels is None and points.x.dtype == np.float32


NPZ_ERRORS = {
    "no split": (
        dict(x=np.zeros((2, 3), np.uint8)),
        "test",
        r"no test split: expected the key x_test; found \['x'\] \(training data only\)",
    ),
    "ambiguous": (
        dict(x=np.zeros((2, 3)), data=np.zeros((2, 3))),
        "train",
        r"ambiguous train data: the file holds x and data; keep one\. Accepted keys: x_train/",
    ),
    "unknown keys": (
        dict(features=np.zeros((2, 3))),
        "train",
        r"no train split: found the keys \['features'\]; accepted keys: x_train/y_train and "
        r"x_test/y_test, or for training data only x/y, data or images/labels\.",
    ),
    "strings": (
        dict(x=np.array(["a", "b"])),
        "train",
        r"not image or feature data: x must be a numeric array of shape \(n, \.\.\.\)",
    ),
    "objects": (
        dict(x=np.array([{}, {}], dtype=object)),
        "train",
        r"not image or feature data \(Object arrays cannot be loaded",
    ),
    "1-D": (dict(x=np.zeros(5)), "train", r"not image .*got float64 of shape \(5,\)"),
    "levels": (
        dict(x=np.full((2, 2, 2), 300)),
        "train",
        r"integer data must lie in 0\.\.255 \(num_levels=256\); found values from 300",
    ),
    "channels": (
        dict(x=np.zeros((2, 4, 4, 7), np.uint8)),
        "train",
        r"wrong shape: images must be \(n, H, W\) or \(n, H, W, C\) with 1 to 4",
    ),
    "labels": (
        dict(x=np.zeros((3, 2), np.uint8), y=np.zeros(2, np.int64)),
        "train",
        r"wrong shape: y must hold one integer label per example, shape \(3,\)",
    ),
}


def test_npz_of_training_data_only_under_common_key_names(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (7, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "images.npz", images=images, labels=np.arange(7))
    found = load_dataset(tmp_path / "images.npz")
    assert found.event_shape == (4, 4, 1) and found.num_levels == 256
    np.testing.assert_array_equal(found.labels, np.arange(7))
    np.testing.assert_array_equal(found.x[..., 0], images)
    points = rng.standard_normal((9, 3))
    np.savez(tmp_path / "data.npz", data=points)
    np.testing.assert_allclose(load_dataset(tmp_path / "data.npz").x, points.astype(np.float32))
    np.savez(tmp_path / "x.npz", x=points, y=np.zeros(9, np.int64))
    assert load_dataset(tmp_path / "x.npz").labels.tolist() == [0] * 9
    with pytest.raises(NoSplitError, match=r"data\.npz: no test split: expected the key x_test"):
        load_dataset(tmp_path / "data.npz", "test")


def test_cli_training_data_without_a_test_split(tmp_path, key):
    points = np.random.default_rng(6).standard_normal((50, 3)).astype(np.float32)
    np.savez(tmp_path / "mine.npz", x_train=points)
    data = training_data(str(tmp_path / "mine.npz"), lambda shape: shape, 0.2, key)
    assert data.test is None and (len(data.train), len(data.val)) == (40, 10)
    rows = np.concatenate([data.train.x, data.val.x])
    np.testing.assert_array_equal(np.sort(rows, axis=0), np.sort(points, axis=0))


@pytest.mark.parametrize("case", NPZ_ERRORS)
def test_bad_npz_files(tmp_path, case):
    arrays, split, message = NPZ_ERRORS[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": " + message):
        load_dataset(path, split)


def test_not_an_npz(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_text("hello")
    with pytest.raises(DataError, match=r"junk\.npz: not an \.npz file \(no zip archive\)"):
        load_dataset(path)


def test_digits_are_17_levels_with_a_fixed_split():
    train, test = load_dataset("digits"), load_dataset("digits", "test")
    assert (len(train), len(test)) == (1500, 297)
    assert train.event_shape == (8, 8, 1) and train.num_levels == 17 and train.x.max() == 16
    np.testing.assert_array_equal(np.bincount(train.labels, minlength=10) > 100, True)


def test_toys_train_and_test_differ():
    train = load_dataset("moons", num_examples=64)
    test = load_dataset("moons", "test", num_examples=64)
    assert train.x.shape == (64, 2) and train.num_levels is None
    assert not np.allclose(train.x, test.x)


def test_unknown_names_and_splits():
    choices = ", ".join(DATASETS)
    assert choices == "digits, fashion-mnist, mnist, moons, gaussian-mixture, checkerboard, circles"
    with pytest.raises(DataError, match=f"^mnsit: unknown data set; choose one of {choices}, or"):
        load_dataset("mnsit")
    with pytest.raises(DataError, match=r"unknown split 'val'; choose 'train' or 'test'"):
        load_dataset("digits", "val")
    with pytest.raises(DataError, match=r"nowhere/data: no such file or folder"):
        load_dataset("nowhere/data")
