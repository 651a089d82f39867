"""train_loop: non-finite steps skipped or stopping (named by step and parameter), exact
resume from a checkpoint (with and without an iterator state), metrics and progress."""

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


def _batches_with_nan_at(step, data):
    batches = [data[i * 32 : (i + 1) * 32].copy() for i in range(NUM_STEPS)]
    batches[step - 1][5, 1] = np.nan
    return iter(batches)


def test_a_nonfinite_step_is_named_and_skipped(setup, tmp_path, capsys):
    flow, data, optimizer, step = setup
    seen = []

    def prepare(batch):  # prepare_batch runs on each batch before the step: NaN at step 3
        seen.append(batch)
        return batch if len(seen) != 3 else np.where(np.arange(6) == 1, np.nan, batch)

    result = train.train_loop(
        step,
        flow,
        train.init_opt_state(optimizer, flow),
        iter([data[i * 32 : (i + 1) * 32] for i in range(5)]),
        key=jax.random.key(0),
        num_steps=5,
        metrics_path=tmp_path / "m.jsonl",
        progress=False,
        prepare_batch=prepare,
    )
    assert len(seen) == 5
    assert result.skipped_steps == [3] and result.step == 5
    err = capsys.readouterr().err
    assert "step 3: non-finite loss (nan) and non-finite gradients in 10 of 14 parameter " in err
    assert "; the update was skipped." in err
    records = train.read_metrics(tmp_path / "m.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["skipped"] for r in records] == [False, False, True, False, False]
    assert records[2]["loss"] == "nan" and np.isfinite(records[3]["loss"])


def test_stop_on_nonfinite_keeps_the_last_good_checkpoint(setup, tmp_path):
    flow, data, optimizer, step = setup
    opt_state = train.init_opt_state(optimizer, flow)
    with train.Checkpointer(tmp_path / "ck") as checkpointer:
        with pytest.raises(
            train.NonFiniteError,
            match=r"step 3: non-finite loss \(nan\) .*"
            r"training stopped \(on_nonfinite='stop'\); last checkpoint: step 2",
        ):
            train.train_loop(
                step,
                flow,
                opt_state,
                _batches_with_nan_at(3, data),
                key=jax.random.key(0),
                num_steps=5,
                checkpointer=checkpointer,
                checkpoint_every=2,
                progress=False,
                on_nonfinite="stop",
            )
        assert checkpointer.all_steps() == [2]
    with pytest.raises(ValueError, match=r"on_nonfinite must be 'skip' or 'stop'; got 'ignore'"):
        train.train_loop(
            step,
            flow,
            opt_state,
            iter([]),
            key=jax.random.key(0),
            num_steps=1,
            on_nonfinite="ignore",
        )
    with pytest.raises(ValueError, match=r"the batches ran out at step 2 of 3"):
        train.train_loop(
            step,
            flow,
            opt_state,
            iter([data[:32]]),
            key=jax.random.key(0),
            num_steps=3,
            progress=False,
        )


@pytest.mark.parametrize("stateful", [True, False], ids=["iterator-state", "fast-forward"])
def test_resume_continues_exactly(setup, tmp_path, capsys, stateful):
    flow, data, optimizer, step = setup
    opt_state = train.init_opt_state(optimizer, flow)

    def batches():  # a fresh iterator, as a restarted process builds; plain: no get_state
        fresh = train.ArrayBatches(data, batch_size=32, seed=3)
        return fresh if stateful else (batch for batch in fresh)

    def run(directory, num_steps, progress=False):
        with train.Checkpointer(directory / "ck") as checkpointer:
            return train.train_loop(
                step,
                flow,
                opt_state,
                batches(),
                key=jax.random.key(5),
                num_steps=num_steps,
                checkpointer=checkpointer,
                checkpoint_every=3,
                metrics_path=directory / "metrics.jsonl",
                config={"steps": NUM_STEPS},
                progress=progress,
            )

    whole = run(tmp_path / "whole", NUM_STEPS, progress=True)
    assert "loss=" in capsys.readouterr().err  # the progress bar showed the loss
    first = run(tmp_path / "split", 5)  # checkpoints at 3 and 5
    assert first.step == 5 and first.resumed_from == 0
    with open(tmp_path / "split" / "metrics.jsonl", "a") as f:  # a killed run's leftovers
        f.write(json.dumps({"step": 6, "loss": 0.0}) + "\n" + '{"step": 7, "lo')
    second = run(tmp_path / "split", NUM_STEPS)
    assert second.resumed_from == 5 and second.step == NUM_STEPS
    losses = [
        [r["loss"] for r in train.read_metrics(tmp_path / d / "metrics.jsonl")]
        for d in ("whole", "split")
    ]
    assert len(losses[0]) == NUM_STEPS and losses[0] == losses[1]
    for a, b in zip(
        _arrays((whole.model, whole.opt_state)),
        _arrays((second.model, second.opt_state)),
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
