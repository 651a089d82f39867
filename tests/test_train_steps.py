"""flowkit.train steps: one device, pmap and sharded jit agree on 8 fake CPU devices, compile
once, keep the base distribution frozen, and skip non-finite updates."""

import contextlib

import equinox as eqx
import jax
import numpy as np
import optax
import pytest

import flowkit as fk
from flowkit import train

NUM_LEVELS = 16  # 4-bit "pixels": integer data dequantized inside the step


@contextlib.contextmanager
def count_compiles():
    """Count XLA backend compilations inside the block."""
    seen = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            seen.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def _arrays(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))]


@pytest.fixture(scope="module")
def setup():
    """A small flow, three batches of integer pixels, an optimiser with weight decay and EMA."""
    flow = fk.realnvp(jax.random.key(1), dim=6, num_layers=2, width=16)
    pixels = np.random.default_rng(0).integers(0, NUM_LEVELS, size=(3, 32, 6))
    optimizer = train.default_optimizer(
        100, learning_rate=1e-2, warmup_steps=1, weight_decay=1e-3, ema_decay=0.5
    )
    return flow, pixels, optimizer


def _run(kind, flow, batches, optimizer):
    make = {"jit": train.make_step, "pmap": train.make_pmap_step}.get(kind, train.make_sharded_step)
    step = make(optimizer, train.BitsPerDim(num_levels=NUM_LEVELS))
    model, opt_state = step.put_state((flow, train.init_opt_state(optimizer, flow)))
    losses, compiles = [], []
    for i, batch in enumerate(batches):
        if kind == "pmap":
            batch = train.reshape_for_pmap(batch)
        with count_compiles() as seen:
            model, opt_state, metrics = step(
                model, opt_state, step.put_batch(batch), jax.random.fold_in(jax.random.key(7), i)
            )
            metrics = step.get_metrics(metrics)
        compiles.append(len(seen))
        losses.append(float(metrics["loss"]))
        assert not metrics["skipped"] and metrics["bpd"] == metrics["loss"]
    return step, step.get_state((model, opt_state)), losses, compiles


@pytest.fixture(scope="module")
def results(setup):
    """The three step flavours, each run on the same three global batches."""
    flow, pixels, optimizer = setup
    assert jax.device_count() == 8
    return {kind: _run(kind, flow, pixels, optimizer) for kind in ("jit", "pmap", "shard")}


def test_one_device_pmap_and_sharded_steps_agree_and_compile_once(setup, results):
    flow = setup[0]
    (model, opt_state), losses = results["jit"][1], results["jit"][2]
    for kind, (step, state, other_losses, compiles) in results.items():
        # one compilation on the first call, none after: fixed shapes, stable layouts
        assert compiles[0] >= 1 and compiles[1:] == [0, 0], (kind, compiles)
        assert step.compiled_count() in (None, 1)
        # Measured after 3 steps: parameters/state differ by <= 1.5e-8, losses by ~1e-7
        # relative (float32 reductions in another order). The tolerances (atol 2e-6 on
        # parameters, rtol 1e-6 on losses) leave margin and still catch any layout mistake.
        np.testing.assert_allclose(other_losses, losses, rtol=1e-6, atol=0)
        for a, b in zip(_arrays(state), _arrays((model, opt_state)), strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=2e-6, err_msg=kind)
    # training moved the parameters; the frozen base distribution (and integer masks) did not
    assert losses[-1] < losses[0]
    moved = [not np.array_equal(a, b) for a, b in zip(_arrays(flow), _arrays(model), strict=True)]
    assert any(moved)
    for a, b in zip(_arrays(flow.frozen_base), _arrays(model.frozen_base), strict=True):
        np.testing.assert_array_equal(a, b)
    # the EMA (decay 0.5) lies between the start and the current parameters
    average = train.ema_model(model, opt_state)
    trained, start = eqx.filter(model, eqx.is_inexact_array), eqx.filter(flow, eqx.is_inexact_array)
    for e, m, s in zip(
        _arrays(eqx.filter(average, eqx.is_inexact_array)),
        _arrays(trained),
        _arrays(start),
        strict=True,
    ):
        assert np.all((e - np.minimum(m, s) >= -1e-6) & (np.maximum(m, s) - e >= -1e-6))


def test_dequantization_noise_is_fresh_per_key(setup, results):
    flow, pixels, optimizer = setup
    step = results["jit"][0]  # compiled already
    state = step.put_state((flow, train.init_opt_state(optimizer, flow)))
    loss_a = step(*state, pixels[0], jax.random.key(1))[2]["loss"]
    loss_b = step(*state, pixels[0], jax.random.key(2))[2]["loss"]
    again = step(*state, pixels[0], jax.random.key(1))[2]["loss"]
    assert loss_a == again and loss_a != loss_b


def test_nonfinite_update_leaves_model_and_optimizer_unchanged(setup, results):
    flow, pixels, optimizer = setup
    step = results["jit"][0]
    # one parameter of the conditioner's first layer becomes inf: loss and gradients blow up
    where = lambda f: f.bijector.layers.layers[0].conditioner.layers[0].weight  # noqa: E731
    broken = eqx.tree_at(where, flow, where(flow).at[0, 0, 0].set(np.inf))
    model, opt_state = step.put_state((broken, train.init_opt_state(optimizer, broken)))
    new_model, new_state, metrics = step(model, opt_state, pixels[0], jax.random.key(0))
    assert bool(metrics["skipped"]) and not np.all(np.asarray(metrics["grads_finite"]))
    for a, b in zip(_arrays((model, opt_state)), _arrays((new_model, new_state)), strict=True):
        np.testing.assert_array_equal(a, b)
    paths = train._nonfinite.parameter_paths(flow, train.trainable_filter)
    message = train._nonfinite.nonfinite_message(12, step.get_metrics(metrics), paths)
    assert message.startswith("step 12: non-finite loss (nan) and non-finite gradients in ")
    assert ".bijector.layers.layers[0].conditioner.layers[0].weight" in message


def test_batch_forms_and_layout_errors(setup):
    flow, _, optimizer = setup
    x = np.zeros((16, 6), np.float32)
    assert train.split_batch({"x": x})[1] is None
    assert train.split_batch((x, x[:, :2]))[1].shape == (16, 2)
    with pytest.raises(ValueError, match=r"under 'x' .* got keys \['image'\]"):
        train.split_batch({"image": x})
    with pytest.raises(ValueError, match=r"must be \(x, condition\); got 3 items"):
        train.split_batch((x, x, x))
    with pytest.raises(
        ValueError, match=r"expected a batch shaped \(devices=8, per_device, \.\.\.\)"
    ):
        train.make_pmap_step(optimizer).put_batch(x)
    with pytest.raises(ValueError, match=r"a batch of 12 does not split over 8 devices"):
        train.reshape_for_pmap(x[:12])
    with pytest.raises(ValueError, match=r"batch of 12 rows does not split over its 8"):
        train.make_sharded_step(optimizer).put_batch(x[:12])


def test_default_optimizer_schedule():
    schedule = train.learning_rate_schedule(1000)
    assert float(schedule(0)) == 0.0
    assert float(schedule(100)) == pytest.approx(5e-4)
    assert float(schedule(200)) == pytest.approx(1e-3)
    assert float(schedule(1000)) == pytest.approx(1e-5)
    assert float(train.learning_rate_schedule(100)(50)) == pytest.approx(1e-3)  # short run
    optimizer = train.default_optimizer(1000)
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\); got 1.5"):
        train.default_optimizer(10, ema_decay=1.5)
    with pytest.raises(ValueError, match=r"holds no parameter average"):
        train.ema_model({"w": 0}, optimizer.init({"w": np.zeros(3, np.float32)}))


def test_make_step_clips_a_huge_gradient_to_the_configured_norm():
    """A batch far off the data (gradient norm ~1e12) through flowkit's own step and default
    optimiser: the gradient reaching Adam is rescaled to exactly ``clip_norm`` (Adam's first
    moment after one step is ``(1 - b1) = 0.1`` times it), its direction is kept, and no
    parameter moves by more than the learning rate. Without clipping the moment is ~1e11."""
    flow = fk.realnvp(key=jax.random.key(1), dim=6, num_layers=2, width=16)
    huge = np.full((32, 6), 1e4, np.float32)
    learning_rate = 1e-2

    def one_step(clip_norm):
        optimizer = train.default_optimizer(
            100, learning_rate=learning_rate, warmup_steps=0, clip_norm=clip_norm
        )
        step = train.make_step(optimizer)
        model, opt_state, metrics = step(
            flow, train.init_opt_state(optimizer, flow), huge, jax.random.key(0)
        )
        moment = optax.tree_utils.tree_get(opt_state, "mu")
        return model, moment, step.get_metrics(metrics)

    _, unclipped, metrics = one_step(None)
    raw_norm = float(metrics["grad_norm"])  # the step reports the norm before clipping
    assert raw_norm > 1e6 and not metrics["skipped"]
    assert float(optax.tree.norm(unclipped)) == pytest.approx(0.1 * raw_norm, rel=1e-4)
    for clip_norm in (1.0, 0.25):
        model, moment, metrics = one_step(clip_norm)
        assert float(metrics["grad_norm"]) == pytest.approx(raw_norm, rel=1e-5)
        assert float(optax.tree.norm(moment)) == pytest.approx(0.1 * clip_norm, rel=1e-4)
        for clipped, raw in zip(_arrays(moment), _arrays(unclipped), strict=True):
            np.testing.assert_allclose(clipped, raw * (clip_norm / raw_norm), rtol=1e-3, atol=1e-9)
        moved = [np.abs(a - b).max() for a, b in zip(_arrays(model), _arrays(flow), strict=True)]
        assert 0 < max(moved) <= learning_rate * (1 + 1e-5)


def test_bits_per_dim_loss_matches_the_formula(setup):
    flow = setup[0]
    x = np.random.default_rng(2).uniform(size=(5, 6)).astype(np.float32)
    keys = jax.random.split(jax.random.key(0), 5)
    out = train.BitsPerDim()(flow, x, None, keys)
    nll = -np.asarray(flow.log_prob(x))
    np.testing.assert_allclose(out["nll"], nll, rtol=1e-6)
    np.testing.assert_allclose(out["bpd"], (nll + 6 * np.log(256)) / (6 * np.log(2)), rtol=1e-5)
    np.testing.assert_allclose(train.NLL()(flow, x, None, keys)["loss"], nll, rtol=1e-6)
