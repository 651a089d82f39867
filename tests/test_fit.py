"""fit: seeded validation split, early stopping that returns the best-by-validation flow on a
case built to overfit, conditional and pixel data."""

import json
import math

import jax
import numpy as np
import pytest

import flowkit as fk


def test_validation_split_is_seeded_disjoint_and_complete(key):
    train, val = fk.validation_split(key, 1000, 0.1)
    assert val.size == 100 and train.size == 900
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    again_train, again_val = fk.validation_split(key, 1000, 0.1)
    np.testing.assert_array_equal(again_val, val)
    other = fk.validation_split(jax.random.fold_in(key, 1), 1000, 0.1)[1]
    assert not np.array_equal(other, val)
    assert fk.validation_split(key, 7, 0.05)[1].size == 1  # never an empty validation set
    with pytest.raises(ValueError, match=r"cannot hold out 1 of 1 examples"):
        fk.validation_split(key, 1, 0.1)
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\); got 1.5"):
        fk.validation_split(key, 10, 1.5)


def test_early_stopping_returns_best_by_validation_on_an_overfitting_case(key):
    # 24 training points, a 4-layer RealNVP of width 64, a large learning rate and one step
    # per epoch: measured, the validation NLL bottoms out near epoch 20 (about 3.3 nats,
    # from 3.8-3.9 untrained) and then rises while the training NLL keeps falling.
    k_data, k_val, k_flow, k_fit = jax.random.split(key, 4)
    train = np.asarray(fk.two_moons(k_data, 24))
    val = np.asarray(fk.two_moons(k_val, 512))
    flow = fk.realnvp(k_flow, dim=2, num_layers=4, width=64)
    best, history = fk.fit(
        k_fit,
        flow,
        train,
        val_data=val,
        epochs=300,
        batch_size=24,
        patience=15,
        learning_rate=1e-2,
        progress=False,
    )
    assert history.stopped_early and history.epochs < 300
    assert history.epochs == history.best_epoch + 15
    assert (
        history.best_val_loss == min(history.val_loss) == history.val_loss[history.best_epoch - 1]
    )
    assert history.best_val_loss < history.initial_val_loss - 0.3
    # it overfitted afterwards: training loss still falling, validation loss above its best
    assert history.train_loss[-1] < history.train_loss[history.best_epoch - 1] - 0.2
    assert min(history.val_loss[history.best_epoch :]) > history.best_val_loss
    assert max(history.val_loss[history.best_epoch :]) > history.best_val_loss + 0.1
    # the returned flow is the best one, not the last: its validation NLL is the best
    assert fk.evaluate(best, val).mean == pytest.approx(history.best_val_loss, rel=1e-6)
    assert history.to_dict()["epochs"] == history.epochs


def test_conditional_fit_with_default_split_writes_a_run_directory(key, tmp_path):
    k_data, k_flow, k_fit = jax.random.split(key, 3)
    labels = np.asarray(jax.random.bernoulli(k_data, 0.5, (400, 1)), np.float32)
    noise = np.asarray(jax.random.normal(k_data, (400, 2)))
    data = 0.3 * noise + np.where(labels > 0, 2.0, -2.0)  # the condition moves the mean
    flow = fk.realnvp(k_flow, dim=2, num_layers=2, width=16, cond_shape=1)
    best, history = fk.fit(
        k_fit,
        flow,
        data,
        condition=labels,
        epochs=8,
        batch_size=64,
        patience=8,
        learning_rate=5e-3,
        progress=False,
        run_dir=tmp_path / "run",
    )
    assert history.epochs == 8 and len(history.val_loss) == 8
    assert history.best_val_loss < history.initial_val_loss - 0.5
    # the run directory: load() reads best.flowkit; last.flowkit and history.json beside it
    run = tmp_path / "run"
    loaded = fk.load(run)
    x, c = data[:5], labels[:5]
    np.testing.assert_array_equal(loaded.log_prob(x, c), best.log_prob(x, c))
    assert fk.model_info(run)["metadata"]["epoch"] == history.best_epoch
    assert fk.model_info(run / "last.flowkit")["metadata"]["epoch"] == 8
    assert json.loads((run / "history.json").read_text())["val_loss"] == history.val_loss
    # the metrics log counts steps and seconds from the start of the run, not of each epoch
    records = fk.train.read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, history.steps + 1))
    times = [r["time"] for r in records]
    assert times == sorted(times) and times[-1] <= history.seconds
    with pytest.raises(ValueError, match=r"this flow is conditional; pass condition="):
        fk.fit(k_fit, flow, data, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"expected one condition per example, shape \(400, 1\)"):
        fk.fit(k_fit, flow, data, condition=labels[:10], epochs=1, progress=False)


def test_pixel_data_set_is_fitted_in_bits_per_dim(key):
    from flowkit.data import ArrayDataset

    k_data, k_flow, k_fit = jax.random.split(key, 3)
    pixels = np.asarray(jax.random.randint(k_data, (300, 4), 40, 70), np.uint8)
    data = ArrayDataset(pixels, None, num_levels=100, name="test pixels")  # 100 levels, not 256
    flow = fk.realnvp(k_flow, dim=4, num_layers=2, width=16)
    best, history = fk.fit(
        k_fit, flow, data, epochs=3, batch_size=50, progress=False, learning_rate=1e-2
    )
    assert history.metric == "bits/dim" and history.steps == 3 * (270 // 50)
    assert history.best_val_loss < history.initial_val_loss
    val_rows = fk.validation_split(jax.random.split(k_fit)[0], 300, 0.1)[1]
    val = ArrayDataset(pixels[val_rows], None, num_levels=100, name="val")
    assert fk.evaluate(best, val).mean == pytest.approx(history.best_val_loss, rel=1e-6)
    assert fk.evaluate(best, val.x).mean > history.best_val_loss + 1.0  # 256 levels differ


def test_nonfinite_steps_are_skipped_by_the_train_loop(key, capsys):
    data = np.array(jax.random.normal(key, (64, 2)))
    data[5] = np.nan  # every batch holding example 5 has a NaN loss
    val = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (32, 2)))
    flow = fk.realnvp(key, dim=2, num_layers=1, width=8)
    _, history = fk.fit(key, flow, data, val_data=val, epochs=4, batch_size=16, progress=False)
    assert history.skipped_steps == 4  # one batch per epoch holds it; 4 steps per epoch
    assert np.all(np.isfinite(history.train_loss)) and history.best_val_loss < math.inf
    assert "non-finite loss (nan)" in capsys.readouterr().err  # flowkit.train's message


@pytest.mark.parametrize("name", ["fit", "fit_variational", "elbo", "validation_split"])
def test_functions_that_draw_take_the_key_first(name):
    import inspect

    first = next(iter(inspect.signature(getattr(fk, name)).parameters.values()))
    assert first.name == "key" and first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert getattr(fk, name) is getattr(fk.fitting, name)
