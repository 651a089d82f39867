"""fit: seeded validation split, early stopping that returns the best-by-validation flow on a
case built to overfit, conditional and pixel data, and every bad input refused or reported
at fit's edge (the one home of fit's tests; the run directory's are in test_run_faults.py)."""

import json
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import flowkit as fk
from flowkit.train import NLL, BitsPerDim, Stopping


def _adam(rate):
    return optax.adam(rate)


@pytest.fixture(scope="module")
def moons():
    return np.asarray(fk.two_moons(jax.random.key(3), 360))


@pytest.fixture(scope="module")
def small_flow():
    return fk.realnvp(jax.random.key(4), dim=2, num_layers=2, width=8)


def test_validation_split_is_seeded_disjoint_and_complete(key):
    train, val = fk.train.validation_split(key, 1000, 0.1)
    assert val.size == 100 and train.size == 900
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    again_train, again_val = fk.train.validation_split(key, 1000, 0.1)
    np.testing.assert_array_equal(again_val, val)
    other = fk.train.validation_split(jax.random.fold_in(key, 1), 1000, 0.1)[1]
    assert not np.array_equal(other, val)
    assert fk.train.validation_split(key, 7, 0.05)[1].size == 1  # never an empty validation set
    with pytest.raises(ValueError, match=r"cannot hold out 1 of 1 examples"):
        fk.train.validation_split(key, 1, 0.1)
    with pytest.raises(ValueError, match=r"validation fraction must be in \[0, 1\); got 1.5"):
        fk.train.validation_split(key, 10, 1.5)


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
        validation=val,
        batch_size=24,
        stopping=Stopping(epochs=300, patience=15),
        optimizer=lambda steps: fk.train.default_optimizer(steps, learning_rate=1e-2),
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
        (data, labels),
        batch_size=64,
        stopping=Stopping(epochs=8, patience=8),
        optimizer=_adam(5e-3),
        progress=False,
        run=tmp_path / "run",
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
    # the metrics log counts steps and seconds from the start of the run
    records = fk.train.read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, history.steps + 1))
    times = [r["time"] for r in records]
    assert times == sorted(times) and times[-1] <= history.seconds
    with pytest.raises(
        ValueError, match=r"this flow is conditional; pass data as \(x, condition\)"
    ):
        fk.fit(k_fit, flow, data, progress=False)
    with pytest.raises(ValueError, match=r"expected one condition per example of the data, shape "):
        fk.fit(k_fit, flow, (data, labels[:10]), progress=False)


def test_pixel_data_set_is_fitted_in_bits_per_dim(key):
    from flowkit.data import ArrayDataset

    k_data, k_flow, k_fit = jax.random.split(key, 3)
    pixels = np.asarray(jax.random.randint(k_data, (300, 4), 40, 70), np.uint8)
    data = ArrayDataset(pixels, None, num_levels=100, name="test pixels")  # 100 levels, not 256
    flow = fk.realnvp(k_flow, dim=4, num_layers=2, width=16)
    best, history = fk.fit(
        k_fit, flow, data, batch_size=50, stopping=Stopping(epochs=3), optimizer=_adam(1e-2),
        progress=False,
    )  # fmt: skip
    assert history.metric == "bits/dim" and history.steps == 3 * (270 // 50)
    assert history.best_val_loss < history.initial_val_loss
    val_rows = fk.train.validation_split(jax.random.split(k_fit)[0], 300, 0.1)[1]
    val = ArrayDataset(pixels[val_rows], None, num_levels=100, name="val")
    assert fk.evaluate(best, val).mean == pytest.approx(history.best_val_loss, rel=1e-6)
    assert fk.evaluate(best, val.x).mean > history.best_val_loss + 1.0  # 256 levels differ


class _NanAtMarkedRows(fk.train.AbstractLoss):
    """An NLL that is NaN for every batch holding a row whose first value is above 50."""

    metric: ClassVar[str] = "nll"

    def inputs(self, keys, x):
        return x

    def __call__(self, model, x, condition, keys):
        nll = -model.log_prob(x, condition)
        nll = jnp.where(jnp.any(x[:, 0] > 50), jnp.nan, nll)
        return {"loss": nll, "nll": nll}

    def check_data(self, x):
        pass

    def validation_scores(self, model, x, condition):
        return NLL().validation_scores(model, x, condition)


def test_nonfinite_steps_are_skipped_and_summarised_once_per_epoch(key, moons, small_flow, capsys):
    data = moons[:64].copy()
    data[5, 0] = 100.0  # a finite row the loss turns into NaN: every batch holding it
    _, history = fk.fit(
        key, small_flow, data, validation=moons[100:132], batch_size=16, loss=_NanAtMarkedRows(),
        stopping=Stopping(epochs=4), progress=False,
    )  # fmt: skip
    assert history.skipped_steps == 4  # one batch per epoch holds it; 4 steps per epoch
    assert np.all(np.isfinite(history.train_loss)) and history.best_val_loss < math.inf
    err = capsys.readouterr().err
    assert err.count("steps skipped") == 4  # one line per epoch, not one per step
    assert "epoch 1: 1 of 4 steps skipped (non-finite loss or gradients" in err
    assert "non-finite loss (nan)" in err
    with pytest.raises(fk.train.NonFiniteError, match=r"step \d+: non-finite loss \(nan\).*stop"):
        fk.fit(
            key, small_flow, data, validation=moons[100:132], batch_size=16,
            loss=_NanAtMarkedRows(), on_nonfinite="stop", progress=False,
        )  # fmt: skip


def test_a_diverged_run_stops_with_one_line(key, moons, small_flow):
    with pytest.raises(fk.train.DivergenceError, match=r"training diverged: .*lower the learning"):
        fk.fit(key, small_flow, moons, optimizer=_adam(1e6), progress=False)
    marked = moons.copy()
    marked[:, 0] = 100.0  # every step NaN: all skipped
    with pytest.raises(
        fk.train.DivergenceError, match=r"20 of 20 steps of epoch 1 had a non-finite"
    ):
        fk.fit(key, small_flow, marked, batch_size=16, loss=_NanAtMarkedRows(), progress=False)


def test_warns_once_when_no_epoch_beats_the_initial_flow(key, moons, small_flow):
    with pytest.warns(UserWarning, match=r"no epoch beat the initial parameters") as caught:
        best, history = fk.fit(
            key, small_flow, moons, optimizer=_adam(1e-30), stopping=Stopping(epochs=2),
            progress=False,
        )  # fmt: skip
    assert len(caught) == 1 and history.best_epoch == 0
    assert best is not None


def test_integer_data_are_pixels_only_in_range(key, small_flow):
    vectors = np.asarray(jax.random.randint(key, (100, 2), -3, 8))
    with pytest.raises(ValueError, match=r"pixels in 0..255 .* range over \[-3, 7\]; pass loss="):
        fk.fit(key, small_flow, vectors, progress=False)
    _, history = fk.fit(
        key, small_flow, vectors, loss=NLL(), batch_size=30, stopping=Stopping(epochs=1),
        progress=False,
    )  # fmt: skip
    assert history.metric == "nll" and math.isfinite(history.best_val_loss)
    with pytest.raises(ValueError, match=r"pixels in 0..9 .* range over \[-3, 7\]"):
        fk.fit(key, small_flow, vectors, loss=BitsPerDim(num_levels=10), progress=False)
    with pytest.raises(ValueError, match=r"evaluate: integer data are pixels in 0..255"):
        fk.evaluate(small_flow, vectors)


def test_nonfinite_rows_are_reported_once_then_left_out_or_refused(key, moons, small_flow):
    data = moons.copy()
    data[[3, 50, 70], 1] = [np.nan, np.inf, -np.inf]
    with pytest.warns(
        UserWarning, match=r"3 of 360 training rows hold NaN or inf \(rows 3, 50, 70\)"
    ):
        _, history = fk.fit(
            key, small_flow, data, batch_size=50, stopping=Stopping(epochs=1), progress=False
        )
    assert history.steps == (357 - 36) // 50 and math.isfinite(history.best_val_loss)
    with pytest.raises(ValueError, match=r"3 of 360 training rows hold NaN .* on_nonfinite='skip'"):
        fk.fit(key, small_flow, data, on_nonfinite="stop", progress=False)


def test_batch_size_larger_than_the_training_rows_is_refused(key, moons, small_flow):
    with pytest.raises(ValueError, match=r"batch_size 1000 does not fit the 324 training rows"):
        fk.fit(key, small_flow, moons, batch_size=1000, progress=False)


def test_no_validation_selects_on_the_training_loss(key, moons, small_flow):
    _, history = fk.fit(
        key, small_flow, moons, validation=0, batch_size=60, optimizer=_adam(1e-2),
        stopping=Stopping(epochs=3), progress=False,
    )  # fmt: skip
    assert history.selected_on == "training loss" and history.val_loss == history.train_loss
    assert history.best_val_loss == min(history.train_loss) and history.best_epoch >= 1


def test_float32_data_train_and_score_a_float64_flow_under_x64(key, moons):
    with jax.enable_x64(True):
        flow = fk.realnvp(key, dim=2, num_layers=2, width=8)
        assert fk.train._evaluate.model_dtype(flow) == jnp.float64
        data = moons.astype(np.float32)
        best, history = fk.fit(
            key, flow, data, batch_size=60, stopping=Stopping(epochs=1), progress=False
        )
        assert math.isfinite(history.best_val_loss)
        assert math.isfinite(fk.evaluate(best, data).mean)


def test_ema_in_the_optimiser_is_what_fit_returns(key, moons, small_flow):
    common = dict(batch_size=60, stopping=Stopping(max_steps=6), progress=False)
    last, _ = fk.fit(key, small_flow, moons, optimizer=_adam(1e-2), **common)
    averaged, _ = fk.fit(
        key, small_flow, moons, optimizer=optax.chain(_adam(1e-2), fk.train.ema(0.5)), **common
    )
    frozen, _ = fk.fit(
        key, small_flow, moons, optimizer=optax.chain(_adam(1e-2), fk.train.ema(1 - 1e-7)),
        **common,
    )  # fmt: skip

    def distance(a, b):
        import equinox as eqx

        leaves = [jax.tree.leaves(eqx.filter(m, eqx.is_inexact_array)) for m in (a, b)]
        return max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(*leaves, strict=True))

    moved = distance(last, small_flow)
    assert moved > 1e-3
    assert distance(frozen, small_flow) < 1e-2 * moved
    assert 0 < distance(averaged, last) < moved
    with pytest.raises(ValueError, match=r"ema: decay must be in \(0, 1\)"):
        fk.train.ema(1.0)


@pytest.mark.parametrize("name", ["fit", "fit_variational", "elbo", "validation_split"])
def test_functions_that_draw_take_the_key_first(name):
    import inspect

    first = next(iter(inspect.signature(getattr(fk.train, name)).parameters.values()))
    assert first.name == "key" and first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


@pytest.mark.own_errors
def test_fit_takes_at_most_twelve_parameters_and_string_options_are_literals():
    import inspect
    import typing

    assert len(inspect.signature(fk.fit).parameters) <= 12
    assert fk.train.ON_NONFINITE == typing.get_args(fk.train.OnNonFinite) == ("skip", "stop")
    assert fk.train.PARALLEL_MODES == ("jit", "pmap", "shard")
    with pytest.raises(ValueError, match=r"unknown mode 'gpu'; choose one of"):
        fk.train.Parallel("gpu")  # pyright: ignore[reportArgumentType]
