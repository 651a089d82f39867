"""train_loop: non-finite steps skipped (summarised per epoch) or stopping (named by step
and parameter), exact resume from a checkpoint (with and without an iterator state),
metrics and progress."""

import json

import equinox as eqx
import jax
import numpy as np
import pytest

import flowkit as fk
from flowkit import train

NUM_STEPS = 8


def _arrays(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))]


@pytest.fixture(scope="module")
def setup():
    flow = fk.realnvp(jax.random.key(1), dim=6, num_layers=2, width=16)
    data = np.random.default_rng(0).normal(size=(256, 6)).astype(np.float32)
    optimizer = train.default_optimizer(NUM_STEPS, learning_rate=1e-2, warmup_steps=2)
    return flow, data, optimizer, train.make_step(optimizer)  # one compilation for the file


def _loop(step, flow, optimizer, batches, run=None, **options):
    return train.train_loop(
        jax.random.key(5),
        step,
        flow,
        train.init_opt_state(optimizer, flow),
        batches,
        steps_per_epoch=4,
        stopping=options.pop("stopping", train.Stopping(epochs=NUM_STEPS // 4)),
        run=run,
        progress=options.pop("progress", False),
        **options,
    )


class _Killed(Exception):
    """Stands for a kill: raised from inside the loop at a chosen step."""


def _nan_at(step_number):
    seen = []

    def prepare(batch):  # prepare_batch runs on each batch before the step
        seen.append(batch)
        return batch if len(seen) != step_number else np.where(np.arange(6) == 1, np.nan, batch)

    return prepare


def test_a_nonfinite_step_is_named_skipped_and_summarised(setup, tmp_path, capsys):
    flow, data, optimizer, step = setup
    run = train.RunDir(tmp_path / "r")
    result = _loop(
        step, flow, optimizer, train.ArrayBatches(data, batch_size=32), run,
        stopping=train.Stopping(epochs=1), prepare_batch=_nan_at(3),
    )  # fmt: skip
    assert result.history.skipped_steps == 1 and result.history.steps == 4
    err = capsys.readouterr().err
    assert "epoch 1: 1 of 4 steps skipped (non-finite loss or gradients" in err
    assert "step 3: non-finite loss (nan) and non-finite gradients in 10 of 14 parameter " in err
    records = train.read_metrics(run.metrics)
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert [r["skipped"] for r in records] == [False, False, True, False]
    assert records[2]["loss"] == "nan" and np.isfinite(records[3]["loss"])


def test_stop_on_nonfinite_keeps_the_last_good_checkpoint(setup, tmp_path):
    flow, data, optimizer, step = setup
    run = train.RunDir(tmp_path / "r", checkpoint_every=2)
    with pytest.raises(
        train.NonFiniteError,
        match=r"step 3: non-finite loss \(nan\) .*"
        r"training stopped \(on_nonfinite='stop'\); last checkpoint: step 2",
    ):
        _loop(
            step, flow, optimizer, train.ArrayBatches(data, batch_size=32), run,
            prepare_batch=_nan_at(3), on_nonfinite="stop",
        )  # fmt: skip
    assert train.Checkpointer(run.checkpoints).all_steps() == [2]


@pytest.mark.own_errors
def test_loop_options_are_checked(setup):
    flow, data, optimizer, step = setup
    with pytest.raises(ValueError, match=r"on_nonfinite must be one of \('skip', 'stop'\)"):
        _loop(step, flow, optimizer, iter([]), on_nonfinite="ignore")
    with pytest.raises(ValueError, match=r"steps_per_epoch must be >= 1; got 0"):
        train.train_loop(jax.random.key(0), step, flow, None, iter([]), steps_per_epoch=0)


@pytest.mark.parametrize("stateful", [True, False], ids=["iterator-state", "fast-forward"])
def test_resume_continues_exactly(setup, tmp_path, capsys, stateful):
    flow, data, optimizer, step = setup

    def batches():  # a fresh iterator, as a restarted process builds; plain: no get_state
        fresh = train.ArrayBatches(data, batch_size=32, seed=3)
        return fresh if stateful else (batch for batch in fresh)

    def kill_at(step_number):
        seen = []

        def prepare(batch):
            seen.append(batch)
            if len(seen) == step_number:
                raise _Killed
            return batch

        return prepare

    whole = _loop(step, flow, optimizer, batches(), train.RunDir(tmp_path / "whole"), progress=True)
    assert "loss=" in capsys.readouterr().err  # the progress bar showed the loss
    split = tmp_path / "split"
    with pytest.raises(_Killed):  # checkpoints at 3 and 6 (mid-epoch)
        _loop(
            step, flow, optimizer, batches(), train.RunDir(split, checkpoint_every=3),
            prepare_batch=kill_at(7),
        )  # fmt: skip
    with open(split / "metrics.jsonl", "a") as f:  # a killed run's leftovers
        f.write(json.dumps({"step": 7, "loss": 0.0}) + "\n" + '{"step": 8, "lo')
    with pytest.raises(train.RunDirError, match=r"already holds a run .*resume=True"):
        _loop(step, flow, optimizer, batches(), train.RunDir(split))
    again = _loop(
        step, flow, optimizer, batches(), train.RunDir(split, resume=True, checkpoint_every=3)
    )
    assert again.resumed_from == 6 and again.history.steps == NUM_STEPS
    losses = [
        [r["loss"] for r in train.read_metrics(tmp_path / d / "metrics.jsonl")]
        for d in ("whole", "split")
    ]
    assert len(losses[0]) == NUM_STEPS and losses[0] == losses[1]
    assert again.history.to_dict() | {"seconds": 0} == whole.history.to_dict() | {"seconds": 0}
    for a, b in zip(
        _arrays((whole.model, whole.opt_state, whole.best)),
        _arrays((again.model, again.opt_state, again.best)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_array_batches_state_and_epochs():
    data = np.arange(10)
    batches = train.ArrayBatches(data, data * 10, batch_size=4, seed=1)
    first = [next(batches) for _ in range(3)]  # 2 per epoch: the third starts epoch 1
    assert all(np.array_equal(x * 10, y) for x, y in first)
    assert sorted(np.concatenate([x for x, _ in first[:2]])) != sorted(first[2][0].tolist())
    state = batches.get_state()
    assert state == {"epoch": 1, "index": 1}
    ahead = [next(batches)[0] for _ in range(3)]
    again = train.ArrayBatches(data, data * 10, batch_size=4, seed=1)
    again.set_state(state)
    assert all(np.array_equal(a, next(again)[0]) for a in ahead)
    split = next(train.ArrayBatches(np.zeros((32, 3)), batch_size=16, devices=8))
    assert split.shape == (8, 2, 3)
    with pytest.raises(ValueError, match=r"need 1 <= batch_size <= 10; got 11"):
        train.ArrayBatches(data, batch_size=11)
