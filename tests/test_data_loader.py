"""The Grain loader: per-epoch shuffles, dequantization noise keyed by (seed, epoch, example),
exact resume from a JSON state (also through Grain's orbax handler and with worker
processes), and global batches that do not depend on the number of processes."""

import json

import numpy as np
import pytest

from flowkit.data import ArrayDataset, DataError, Loader
from flowkit.data._batches import global_batch_rows, process_share


@pytest.fixture(scope="module")
def pixels():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (100, 4, 4, 1), dtype=np.uint8)
    return ArrayDataset(x, rng.integers(0, 10, 100).astype(np.int32), 256, "pixels")


def collect(iterator, n):
    return [next(iterator) for _ in range(n)]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_epochs_are_new_permutations_and_drop_the_rest(pixels):
    loader = Loader(pixels, batch_size=30, seed=3, num_epochs=3)
    batches = list(loader)
    assert loader.batches_per_epoch == 3 and len(batches) == 9
    epochs = [np.concatenate([b["index"] for b in batches[3 * e : 3 * e + 3]]) for e in range(3)]
    for rows in epochs:
        assert len(set(rows.tolist())) == 90  # 90 distinct examples, 10 dropped
    assert not np.array_equal(epochs[0], epochs[1])
    assert set(epochs[0]) != set(epochs[1])  # a different 10 are left out
    first = batches[0]
    np.testing.assert_array_equal(first["label"], pixels.labels[first["index"]])
    assert first["x"].shape == (30, 4, 4, 1) and first["x"].dtype == np.float32
    other_seed = Loader(pixels, batch_size=30, seed=4).batch(0)["index"]
    assert not np.array_equal(other_seed, first["index"])


def test_dequantization_noise_is_new_each_epoch_and_keyed_by_example(pixels):
    loader = Loader(pixels, batch_size=10, seed=7)
    levels = pixels.x.astype(np.float32)

    def values_by_row(loader, epoch):
        out = {}
        for b in range(loader.batches_per_epoch):
            batch = loader.batch(epoch * loader.batches_per_epoch + b)
            out.update(zip(batch["index"].tolist(), batch["x"], strict=True))
        return np.stack([out[r] for r in range(100)])

    epoch0, epoch1 = values_by_row(loader, 0), values_by_row(loader, 1)
    for values in (epoch0, epoch1):  # each value lies in its pixel's bin [k/256, (k+1)/256)
        np.testing.assert_array_equal(np.floor(values * 256), levels)
    assert np.mean(epoch0 != epoch1) > 0.99
    # The same example in the same epoch gets the same noise whatever batch it lands in.
    np.testing.assert_array_equal(values_by_row(Loader(pixels, batch_size=20, seed=7), 1), epoch1)
    noise = (epoch0 * 256 - levels).ravel()
    assert abs(noise.mean() - 0.5) < 0.02 and abs(noise.std() - 12**-0.5) < 0.02


def test_bin_centres_and_flattening(pixels):
    unit = Loader(pixels, batch_size=10, seed=1).batch(4)
    assert unit["x"].min() >= 0 and unit["x"].max() < 1
    centres = Loader(pixels, batch_size=10, seed=1, dequantize=False, flatten=True).batch(4)
    expected = (pixels.x[unit["index"]].reshape(10, 16) + 0.5) / 256
    np.testing.assert_allclose(centres["x"], expected, rtol=1e-6)


def test_top_level_stays_below_one():
    data = ArrayDataset(np.full((64, 50), 255, np.uint8), None, 256, "white")
    x = Loader(data, batch_size=64).batch(0)["x"]
    assert x.max() < 1.0 and x.min() >= 255 / 256
    assert "label" not in Loader(data, batch_size=64).batch(0)


def test_continuous_data_pass_through():
    points = np.random.default_rng(1).standard_normal((40, 2)).astype(np.float32)
    batch = Loader(ArrayDataset(points, None, None, "points"), batch_size=8, seed=2).batch(3)
    np.testing.assert_array_equal(batch["x"], points[batch["index"]])


def test_resume_continues_at_the_exact_next_batch(pixels):
    loader = Loader(pixels, batch_size=30, seed=5, num_epochs=4)
    reference = list(loader)
    first = iter(loader)
    assert_same_batches(collect(first, 4), reference[:4])  # crosses the epoch boundary
    state = json.loads(json.dumps(first.get_state()))
    assert state["next_step"] == 4 and first.epoch == 1
    first.close()
    again = Loader(pixels, batch_size=30, seed=5, num_epochs=4, worker_count=1)
    with again.iterator(state) as resumed:  # another worker count: same batches
        assert_same_batches(list(resumed), reference[4:])
    as_bytes = loader.iterator(json.dumps(state).encode())
    assert_same_batches([next(as_bytes)], reference[4:5])


def test_resume_through_grains_orbax_handler(pixels, tmp_path):
    grain = pytest.importorskip("grain")
    ocp = pytest.importorskip("orbax.checkpoint")
    loader = Loader(pixels, batch_size=25, seed=9)
    iterator = iter(loader)
    collect(iterator, 3)
    with ocp.CheckpointManager(tmp_path) as manager:
        manager.save(3, args=grain.checkpoint.CheckpointSave(iterator))
        manager.wait_until_finished()
        expected = collect(iterator, 2)
        restored = iter(loader)
        manager.restore(3, args=grain.checkpoint.CheckpointRestore(restored))
    assert_same_batches(collect(restored, 2), expected)


def test_state_from_other_settings_is_refused(pixels):
    state = iter(Loader(pixels, batch_size=10, seed=0)).get_state()
    with pytest.raises(
        DataError,
        match=r"saved with other settings: batch_size=10 \(now 20\), "
        r"seed=0 \(now 1\)\. Resume with the settings of the saved run",
    ):
        Loader(pixels, batch_size=20, seed=1).iterator(state)


@pytest.mark.parametrize("process_count", [2, 5])
def test_process_shares_concatenate_to_the_global_batch(pixels, process_count):
    whole = Loader(pixels, batch_size=20, seed=11, process_count=1, process_index=0)
    shares = [
        Loader(pixels, batch_size=20, seed=11, process_count=process_count, process_index=p)
        for p in range(process_count)
    ]
    assert shares[0].local_batch_size == 20 // process_count
    for step in (0, 4, 5, 13):  # epochs 0, 1 and 2
        parts = [share.batch(step) for share in shares]
        glued = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
        assert_same_batches([glued], [whole.batch(step)])
    rows = global_batch_rows(100, 20, 11, 5)  # the index functions agree
    np.testing.assert_array_equal(rows, whole.batch(5)["index"])
    np.testing.assert_array_equal(
        process_share(rows, 1, process_count), shares[1].batch(5)["index"]
    )


LOADER_ERRORS = {
    "too big": (dict(batch_size=101), r"batch_size must be between 1 and the 100 examples"),
    "processes": (
        dict(batch_size=10, process_count=3, process_index=0),
        r"the global batch of 10 does not split over 3 processes",
    ),
    "index": (
        dict(batch_size=10, process_count=2, process_index=2),
        r"process_index 2 is outside 0\.\.1",
    ),
    "epochs": (dict(batch_size=10, num_epochs=0), r"num_epochs must be >= 1 or None"),
}


@pytest.mark.parametrize("case", LOADER_ERRORS)
def test_loader_errors(pixels, case):
    kwargs, message = LOADER_ERRORS[case]
    with pytest.raises(DataError, match="^pixels: " + message):
        Loader(pixels, **kwargs)


def test_fit_refuses_a_loader_for_a_conditional_flow(pixels):
    import jax

    import flowkit as fk

    flow = fk.realnvp(jax.random.key(0), dim=16, num_layers=2, width=8, cond_shape=3)
    loader = Loader(pixels, batch_size=10, seed=0, flatten=True)
    with pytest.raises(ValueError, match=r"^fit: a Loader gives no conditions but the flow takes "):
        fk.fit(jax.random.key(1), flow, loader, validation=0, progress=False)
