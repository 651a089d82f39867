"""Bad or unusual inputs at the public edge: each either works (an int cond_shape, float32 data
under x64) or ends in one line that says what was expected and how to fix it."""

import json

import equinox as eqx
import jax
import numpy as np
import pytest

import flowkit as fk

COND = 3  # an int cond_shape: every factory reads it as (3,)
_SIZES = {"dim": 4, "width": 8, "depth": 1, "num_layers": 2}
_IMAGE = {"image_shape": (4, 4, 1)}

# name -> build(key); every factory, conditional through an int cond_shape.
FACTORIES = {
    "realnvp": lambda k: fk.realnvp(k, **_SIZES, cond_shape=COND),
    "nice": lambda k: fk.nice(k, **_SIZES, cond_shape=COND),
    "maf": lambda k: fk.maf(k, **_SIZES, cond_shape=COND),
    "iaf": lambda k: fk.iaf(k, **_SIZES, cond_shape=COND),
    "nsf": lambda k: fk.nsf(k, **_SIZES, cond_shape=COND, num_bins=4),
    "nsf[autoregressive]": lambda k: fk.nsf(
        k, **_SIZES, cond_shape=COND, num_bins=4, kind="autoregressive"
    ),
    "glow": lambda k: fk.glow(
        k, **_IMAGE, num_scales=1, layers_per_scale=2, width=4, cond_shape=COND
    ),
    "realnvp_multiscale": lambda k: fk.realnvp_multiscale(
        k, **_IMAGE, layers_per_scale=1, final_layers=1, width=4, depth=1, cond_shape=COND
    ),
    "tarflow": lambda k: fk.tarflow(
        k,
        **_IMAGE,
        patch_size=2,
        num_blocks=2,
        layers_per_block=1,
        width=8,
        heads=2,
        cond_shape=COND,
    ),  # fmt: skip
}


def _randomized(flow, key):
    """``flow`` with every trainable leaf moved by noise (fresh flows are often the identity)."""
    params, static = eqx.partition(flow, fk.flows.trainable_filter(flow))
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    pairs = zip(leaves, keys, strict=True)
    leaves = [a + 0.05 * jax.random.normal(k, a.shape, a.dtype) for a, k in pairs]
    return eqx.combine(jax.tree.unflatten(treedef, leaves), static)


@eqx.filter_jit
def _log_prob(flow, x, c):
    return flow.log_prob(x, c)


@eqx.filter_jit
def _sample_and_log_prob(flow, key, c):
    return flow.sample_and_log_prob(key, 2, c)


def _data(flow, n: int, dtype):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.05, 0.95, (n, *flow.shape)).astype(dtype)
    c = rng.normal(size=(n, COND)).astype(dtype)
    return x, c


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_int_cond_shape_means_a_vector(name, key):
    flow = FACTORIES[name](key)
    assert flow.cond_shape == (COND,)
    x, c = _data(flow, 2, np.float32)
    assert _log_prob(flow, x, c).shape == (2,)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_float32_inputs_to_a_float64_flow(name, key):
    with jax.enable_x64(True):
        flow = _randomized(FACTORIES[name](key), jax.random.fold_in(key, 1))
        assert flow.dtype == np.float64
        x32, c32 = _data(flow, 3, np.float32)
        log_p = _log_prob(flow, x32, c32)
        assert log_p.dtype == np.float64 and np.all(np.isfinite(log_p))
        expected = _log_prob(flow, x32.astype(np.float64), c32.astype(np.float64))
        np.testing.assert_array_equal(log_p, expected)
        sample, log_q = _sample_and_log_prob(flow, key, c32[0])
        assert sample.dtype == log_q.dtype == np.float64
        assert sample.shape == (2, *flow.shape) and np.all(np.isfinite(log_q))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_float64_inputs_to_a_float32_flow_under_x64(name, key):
    flow = _randomized(FACTORIES[name](key), jax.random.fold_in(key, 1))
    x32, c32 = _data(flow, 3, np.float32)
    expected = _log_prob(flow, x32, c32)
    with jax.enable_x64(True):
        assert flow.dtype == np.float32
        log_p = _log_prob(flow, x32.astype(np.float64), c32.astype(np.float64))
        assert log_p.dtype == np.float32
        np.testing.assert_allclose(log_p, expected, rtol=1e-6, atol=1e-6)
        sample, _ = _sample_and_log_prob(flow, key, c32.astype(np.float64)[0])
        assert sample.dtype == np.float32


def test_hand_built_chain_flow_takes_float32_under_x64(key):
    with jax.enable_x64(True):
        chain = fk.Chain([fk.Affine(np.zeros(2), np.full(2, 0.3))])
        flow = fk.Flow(chain, fk.standard_normal((2,)))
        log_p = flow.log_prob(np.ones((4, 2), np.float32))
        assert log_p.dtype == np.float64


def test_integer_data_are_not_cast_silently(key):
    flow = fk.realnvp(key, dim=2, num_layers=2, width=4, depth=1)
    message = r"expected a floating-point array for y; got dtype int32\. Convert"
    with pytest.raises(TypeError, match=message):
        flow.log_prob(np.zeros((3, 2), np.int32))


def test_evaluate_and_fit_take_float32_data_under_x64(key):
    # not standard normal: the identity a fresh flow starts as must be improved on
    data = (3.0 * np.random.default_rng(1).standard_normal((120, 2)) + 1.0).astype(np.float32)
    with jax.enable_x64(True):
        flow = fk.realnvp(key, dim=2, num_layers=2, width=4, depth=1)
        assert np.isfinite(fk.evaluate(flow, data).mean)
        fitted, history = fk.fit(
            key, flow, data, batch_size=40, stopping=fk.Stopping(epochs=1), progress=False
        )
        assert fitted.dtype == np.float64 and np.isfinite(history.best_val_loss)


@pytest.mark.own_errors
@pytest.mark.parametrize("sample_shape", [(-1,), -2, (3, -1), (2.0,), "16", (True,)])
def test_bad_sample_shape_is_one_line(sample_shape, key):
    flow = fk.realnvp(key, dim=2, num_layers=2, width=4, depth=1)
    with pytest.raises(ValueError, match=r"Flow\.sample: sample_shape must be an int >= 0"):
        flow.sample(key, sample_shape)


def test_empty_sample_shape_gives_no_samples(key):
    flow = fk.realnvp(key, dim=2, num_layers=2, width=4, depth=1)
    assert flow.sample(key, 0).shape == (0, 2)
    assert flow.sample(key, (2, 3)).shape == (2, 3, 2)


def test_infinite_coordinate_has_log_density_minus_inf(key):
    flow = _randomized(fk.realnvp(key, dim=2, num_layers=2, width=4, depth=1), key)
    x = np.array([[np.inf, 0.1], [0.2, -np.inf], [np.nan, 0.0], [0.3, -0.4]], np.float32)
    log_p = np.asarray(eqx.filter_jit(lambda f, x: f.log_prob(x))(flow, x))
    assert log_p[0] == -np.inf and log_p[1] == -np.inf
    assert np.isnan(log_p[2])  # an unknown coordinate stays unknown
    assert np.isfinite(log_p[3])


SIZE_CASES = {
    "MLP width=0": (
        lambda k: fk.nn.MLP(k, 2, 2, width=0),
        r"MLP: width must be an int >= 1; got 0",
    ),
    "MLP depth<0": (
        lambda k: fk.nn.MLP(k, 2, 2, depth=-1),
        r"MLP: depth must be an int >= 0; got -1",
    ),
    "MLP in_size<0": (lambda k: fk.nn.MLP(k, -1, 2), r"MLP: in_size must be an int >= 0; got -1"),
    "CausalTransformer heads=0": (
        lambda k: fk.nn.CausalTransformer(k, 4, 2, 2, heads=0),
        r"CausalTransformer: heads must be an int >= 1; got 0",
    ),
    "CausalTransformer width=0": (
        lambda k: fk.nn.CausalTransformer(k, 4, 2, 2, width=0),
        r"CausalTransformer: width must be an int >= 1; got 0",
    ),
    "realnvp width=0": (
        lambda k: fk.realnvp(k, dim=2, width=0),
        r"MLP: width must be an int >= 1; got 0",
    ),
    "realnvp depth<0": (
        lambda k: fk.realnvp(k, dim=2, depth=-1),
        r"MLP: depth must be an int >= 0; got -1",
    ),
    "realnvp num_layers=0": (
        lambda k: fk.realnvp(k, dim=2, num_layers=0),
        r"realnvp: num_layers must be >= 1; got 0",
    ),
    "nice width=0": (lambda k: fk.nice(k, dim=2, width=0), r"MLP: width must be an int >= 1"),
    "nsf width=0": (lambda k: fk.nsf(k, dim=2, width=0), r"MLP: width must be an int >= 1"),
    "maf width=0": (lambda k: fk.maf(k, dim=2, width=0), r"MADE: need .* >= 1; .*width=0"),
    "tarflow width=0": (
        lambda k: fk.tarflow(k, **_IMAGE, patch_size=2, width=0),
        r"CausalTransformer: width must be an int >= 1; got 0",
    ),
    "tarflow heads=0": (
        lambda k: fk.tarflow(k, **_IMAGE, patch_size=2, heads=0),
        r"CausalTransformer: heads must be an int >= 1; got 0",
    ),
    "tarflow cond_shape=0": (
        lambda k: fk.tarflow(k, **_IMAGE, patch_size=2, cond_shape=0),
        r"tarflow: cond_shape must be a positive int or a tuple of positive ints; got 0",
    ),
    "glow width=0": (
        lambda k: fk.glow(k, **_IMAGE, num_scales=1, width=0),
        r"ConvResNet: channel counts must be >= 1 and depth >= 0; .*width=0",
    ),
}


@pytest.mark.parametrize("case", sorted(SIZE_CASES))
def test_bad_size_is_one_line(case, key):
    build, message = SIZE_CASES[case]
    with pytest.raises(ValueError, match=message) as info:
        build(key)
    assert "\n" not in str(info.value)


def _cli_error(capsys, argv) -> str:
    from flowkit.cli import main

    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.fixture
def own_data_run(tmp_path, key):
    """A run folder whose model was trained on a user's file holding only ``x``."""
    rng = np.random.default_rng(7)
    np.savez(tmp_path / "mine.npz", x=rng.standard_normal((40, 3)))
    np.savez(tmp_path / "held_out.npz", x=rng.standard_normal((11, 3)))
    run = tmp_path / "run"
    run.mkdir()
    flow = _randomized(fk.realnvp(key, dim=3, num_layers=2, width=4, depth=1), key)
    fk.save(run / "best.flowkit", flow, metadata={"data": str(tmp_path / "mine.npz")})
    return run, flow


def test_eval_of_a_run_without_a_test_split_says_how_to_score_a_file(own_data_run, capsys):
    run, _ = own_data_run
    line = _cli_error(capsys, ["eval", str(run)])
    assert line.endswith(
        f"mine.npz (the data {run / 'best.flowkit'} was trained on) has no test split; score "
        f"held-out data with: flowkit eval {run} --data FILE (an .npz with x, or x_test)"
    )


def test_eval_scores_a_file_of_one_split(own_data_run, capsys):
    from flowkit.cli import main

    run, flow = own_data_run
    held_out = run.parent / "held_out.npz"
    assert main(["eval", str(run), "--data", str(held_out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "train" and result["num_examples"] == 11
    x = np.load(held_out)["x"].astype(np.float32)
    expected = -np.asarray(flow.log_prob(x)).mean()
    assert result["mean"] == pytest.approx(expected, rel=1e-5)


def test_eval_of_a_truncated_model_file_says_truncated(tmp_path, key, capsys):
    path = fk.save(tmp_path / "m.flowkit", fk.realnvp(key, dim=2, num_layers=2, width=4, depth=1))
    path.write_bytes(path.read_bytes()[:-40])
    line = _cli_error(capsys, ["eval", str(path)])
    assert "m.flowkit" in line and "truncated" in line


def test_sample_out_onto_a_directory_or_under_a_file_is_one_line(own_data_run, capsys):
    run, _ = own_data_run
    line = _cli_error(capsys, ["sample", str(run), "--num", "2", "--out", str(run)])
    assert line.endswith(f"cannot write {run}: it is a directory; give a file name")
    blocker = run / "file"
    blocker.write_text("x")
    out = blocker / "s.png"
    line = _cli_error(capsys, ["sample", str(run), "--num", "2", "--out", str(out)])
    assert line.endswith(f"cannot write {out}: a parent of it is not a directory")


def test_flow_dtype_is_the_bijectors_not_the_bases(key):
    with jax.enable_x64(True):
        base = fk.standard_normal((2,))  # float64 under x64
    bijector = fk.Affine(np.zeros(2, np.float32), np.full(2, 0.5, np.float32))
    flow = fk.Flow(bijector, base)
    assert flow.dtype == np.float32
