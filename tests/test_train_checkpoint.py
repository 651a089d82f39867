"""Training checkpoints: round trip of every part, keep-last-k, interrupted saves ignored,
clear errors for other architectures, missing steps and another process count."""

import shutil

import equinox as eqx
import jax
import numpy as np
import pytest

import flowkit as fk
from flowkit import train


def _arrays(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))]


def _build(num_layers, width):
    return fk.realnvp(jax.random.key(1), dim=6, num_layers=num_layers, width=width)


@pytest.fixture(scope="module")
def state():
    flow = fk.realnvp(jax.random.key(1), dim=6, num_layers=2, width=16)
    optimizer = train.default_optimizer(100, ema_decay=0.9)
    return flow, train.init_opt_state(optimizer, flow)


def test_round_trip_keeps_every_part_and_the_last_k(tmp_path, state):
    flow, opt_state = state
    with train.Checkpointer(tmp_path / "ck", max_to_keep=2) as checkpointer:
        assert checkpointer.latest_step() is None
        for step in (5, 10, 15):
            checkpointer.save(
                step,
                model=flow,
                opt_state=opt_state,
                key=jax.random.key(step),
                data_state={"epoch": 1, "index": step},
                config={"model": "realnvp", "lr": 1e-3},
            )
        checkpointer.save(
            20,
            model=flow,
            opt_state=opt_state,
            key=jax.random.key(3),
            data_state=b"\x00grain-bytes",
        )
        assert checkpointer.all_steps() == [15, 20]
        older = checkpointer.restore(15, model=flow, opt_state=opt_state)
        latest = checkpointer.restore(model=flow, opt_state=opt_state)
        assert checkpointer.metadata(15)["config"] == {"model": "realnvp", "lr": 1e-3}
    assert older.step == 15 and older.data_state == {"epoch": 1, "index": 15}
    assert older.config == {"model": "realnvp", "lr": 1e-3}
    assert (
        jax.random.key_data(older.key).tolist() == jax.random.key_data(jax.random.key(15)).tolist()
    )
    assert latest.step == 20 and latest.data_state == b"\x00grain-bytes" and latest.config is None
    for a, b in zip(
        _arrays((flow, opt_state)), _arrays((latest.model, latest.opt_state)), strict=True
    ):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    # the restored model is a working flow of the same structure
    x = np.zeros((3, 6), np.float32)
    np.testing.assert_array_equal(latest.model.log_prob(x), flow.log_prob(x))


def test_an_interrupted_save_is_not_a_checkpoint(tmp_path, state):
    flow, opt_state = state
    directory = tmp_path / "ck"
    with train.Checkpointer(directory) as checkpointer:
        checkpointer.save(4, model=flow, opt_state=opt_state, key=jax.random.key(0))
    # what a kill during the save of step 9 leaves: a complete-looking, unrenamed folder
    shutil.copytree(directory / "4", directory / "9.orbax-checkpoint-tmp-1234")
    with train.Checkpointer(directory) as checkpointer:
        assert checkpointer.all_steps() == [4]
        assert checkpointer.restore(model=flow, opt_state=opt_state).step == 4
        # orbax removes leftovers in a background task on opening and waits for it before
        # the next save, so the resumed run's first save is where it is guaranteed gone
        checkpointer.save(5, model=flow, opt_state=opt_state, key=jax.random.key(0))
        assert not (directory / "9.orbax-checkpoint-tmp-1234").exists()
        assert checkpointer.all_steps() == [4, 5]


def test_errors_name_the_checkpoint_and_the_mismatch(tmp_path, state):
    flow, opt_state = state
    with train.Checkpointer(tmp_path / "ck") as checkpointer:
        with pytest.raises(FileNotFoundError, match=r"ck: no complete checkpoint to restore"):
            checkpointer.restore(model=flow, opt_state=opt_state)
        checkpointer.save(
            1, model=flow, opt_state=opt_state, key=jax.random.key(0), data_state={"index": 1}
        )
        with pytest.raises(FileNotFoundError, match=r"no checkpoint at step 7; there are \[1\]"):
            checkpointer.restore(7, model=flow, opt_state=opt_state)
        # templates may be abstract (nothing initialised)
        abstract = eqx.filter_eval_shape(_build, 2, 16)
        restored = checkpointer.restore(model=abstract, opt_state=opt_state)
        for a, b in zip(_arrays(flow), _arrays(restored.model), strict=True):
            np.testing.assert_array_equal(a, b)
        deeper = eqx.filter_eval_shape(_build, 3, 16)
        with pytest.raises(
            ValueError,
            match=r"\(step 1\), model: the checkpoint holds 16 arrays, "
            r"the given model 23; was it saved for another architecture",
        ):
            checkpointer.restore(model=deeper, opt_state=opt_state)
        wider = eqx.filter_eval_shape(_build, 2, 9)
        with pytest.raises(
            ValueError,
            match=r"array \.bijector\.layers\.layers\[0\]\.conditioner"
            r"\.layers\[0\]\.weight was saved as float32\(1, 16, 3\); the given "
            r"model has float32\(1, 9, 3\)",
        ):
            checkpointer.restore(model=wider, opt_state=opt_state)
        # a checkpoint written by 2 processes cannot give this single process its data state
        data = tmp_path / "ck" / "1" / "data"
        (data / "process_0-of-1.json").rename(data / "process_0-of-2.json")
        with pytest.raises(
            ValueError,
            match=r"no data-iterator state for process 0 of 1; the "
            r"checkpoint holds \['process_0-of-2.json'\]\. Resume with the process",
        ):
            checkpointer.restore(model=flow, opt_state=opt_state)
