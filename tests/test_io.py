"""save/load: any flow rebuilt from the structure stored in its file, bit for bit; skeletons
(like=) for what cannot be named; one clear error for each kind of bad file."""

import json
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk
from flowkit.io._format import SIGNATURE


def perturb(model, key, scale=0.3):
    """Move every trainable leaf by ``scale``-sized noise, on the host (no compiles)."""
    params, static = eqx.partition(model, fk.flows.trainable_filter(model))
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())
    params = jax.tree_util.tree_map(
        lambda a: a + jnp.asarray(scale * rng.standard_normal(a.shape), a.dtype), params
    )
    return eqx.combine(params, static)


@eqx.filter_jit
def log_prob(flow, x, c=None):
    return flow.log_prob(x, c)


# name -> (build(key) -> flow, event shape, condition shape or None); small but non-trivial.
# Shared sizes (dim 4, width 8, depth 2, cond 2) let the eager builds reuse compiled ops.
SIZES = {"dim": 4, "width": 8, "depth": 2, "num_layers": 2}
FACTORY_CASES = {
    "realnvp": (lambda k: fk.realnvp(k, **SIZES), None),
    "realnvp[half,cond]": (lambda k: fk.realnvp(k, **SIZES, cond_shape=2, mask="half"), 2),
    "nice": (lambda k: fk.nice(k, **SIZES, activation=jax.nn.tanh), None),
    "maf": (lambda k: fk.maf(k, **SIZES), None),
    "maf[random,cond]": (lambda k: fk.maf(k, **SIZES, permutation="random", cond_shape=2), 2),
    "iaf[softplus]": (lambda k: fk.iaf(k, **SIZES, transformer="softplus"), None),
    "nsf": (lambda k: fk.nsf(k, **SIZES, num_bins=4), None),
    "nsf[autoregressive]": (lambda k: fk.nsf(k, **SIZES, kind="autoregressive"), None),
    "glow[cond]": (
        lambda k: fk.glow(
            k, image_shape=(4, 4, 1), num_scales=1, layers_per_scale=2, width=8, cond_shape=2
        ),
        2,
    ),
    "realnvp_multiscale": (
        lambda k: fk.realnvp_multiscale(
            k, image_shape=(4, 4, 1), layers_per_scale=1, final_layers=1, width=8, depth=1
        ),
        None,
    ),
}


def _inputs(key, shape, cond_dim, n=6):
    kx, kc = jax.random.split(key)
    if len(shape) == 3:  # images: data in (0, 1)
        x = jax.random.uniform(kx, (n, *shape), minval=0.02, maxval=0.98)
    else:
        x = 0.8 * jax.random.normal(kx, (n, *shape))
    c = None if cond_dim is None else jax.random.normal(kc, (n, cond_dim))
    return x, c


@pytest.mark.parametrize("name", sorted(FACTORY_CASES))
def test_factory_flow_round_trip_bit_for_bit(name, key, tmp_path):
    build, cond_dim = FACTORY_CASES[name]
    flow = perturb(build(key), jax.random.fold_in(key, 1), scale=0.1)
    path = fk.save(tmp_path / "model.flowkit", flow)
    loaded = fk.load(path)
    assert type(loaded) is fk.Flow
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(flow)
    x, c = _inputs(jax.random.fold_in(key, 2), flow.shape, cond_dim)
    np.testing.assert_array_equal(log_prob(loaded, x, c), log_prob(flow, x, c))
    assert np.all(np.isfinite(log_prob(flow, x, c)))
    # every array leaf, integer ones (permutations) included, comes back identical
    arrays = [jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_array)) for m in (flow, loaded)]
    assert any(jnp.issubdtype(a.dtype, jnp.integer) for a in arrays[0]) or "maf" not in name
    for a, b in zip(*arrays, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_structure_names_classes_and_functions(key, tmp_path):
    flow = fk.realnvp(key, **SIZES, activation=jax.nn.gelu)
    text = json.dumps(fk.model_info(fk.save(tmp_path / "m", flow))["structure"])
    assert '"$module": "flowkit.bijectors._coupling:' in text
    assert '{"$callable": "jax.nn:gelu"}' in text
    assert "key" not in text.lower().replace("keywords", "")  # no PRNG key is stored


def test_flow_built_from_a_legacy_uint32_key(tmp_path):
    legacy_key = jax.random.PRNGKey(7)
    flow = perturb(fk.realnvp(legacy_key, **SIZES), legacy_key)
    loaded = fk.load(fk.save(tmp_path / "m", flow))
    x = jax.random.normal(jax.random.key(2), (4, 4))
    np.testing.assert_array_equal(log_prob(loaded, x), log_prob(flow, x))


def test_load_in_a_fresh_process(key, tmp_path):
    flow = perturb(fk.realnvp(key, **SIZES), key, scale=0.1)
    x = jax.random.normal(jax.random.fold_in(key, 3), (5, 4))
    np.save(tmp_path / "x.npy", np.asarray(x))
    fk.save(tmp_path / "m.flowkit", flow)
    script = (
        "import equinox as eqx, numpy as np, flowkit as fk;"
        f"f = fk.load({str(tmp_path / 'm.flowkit')!r});"
        f"x = np.load({str(tmp_path / 'x.npy')!r});"
        "lp = eqx.filter_jit(lambda flow, x, c=None: flow.log_prob(x, c))(f, x);"
        "print(np.asarray(lp).tobytes().hex())"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == np.asarray(log_prob(flow, x)).tobytes().hex()


def _hand_chain(key, width=8):
    k1, k2, k3 = jax.random.split(key, 3)
    bijector = fk.Chain(
        [
            fk.affine_coupling(k1, fk.bijectors.alternating_mask(4), width=width),
            fk.bijectors.random_permutation(k2, (4,)),
            fk.additive_coupling(k3, fk.bijectors.half_mask(4, 1), width=width),
        ]
    )
    return fk.Flow(bijector, fk.standard_normal((4,)))


def test_hand_composed_chain_loads_without_code_and_with_a_skeleton(key, tmp_path):
    flow = perturb(_hand_chain(key), jax.random.fold_in(key, 1), scale=0.2)
    path = fk.save(tmp_path / "chain.flowkit", flow, metadata={"note": "hand-made"})
    x = jax.random.normal(jax.random.fold_in(key, 2), (6, 4))
    np.testing.assert_array_equal(log_prob(fk.load(path), x), log_prob(flow, x))
    skeleton = _hand_chain(jax.random.key(99))  # other values, same structure
    np.testing.assert_array_equal(log_prob(fk.load(path, like=skeleton), x), log_prob(flow, x))
    # an abstract skeleton (no parameter memory) works too
    abstract = eqx.filter_eval_shape(_hand_chain, jax.random.key(5))
    np.testing.assert_array_equal(log_prob(fk.load(path, like=abstract), x), log_prob(flow, x))
    assert fk.model_info(path)["metadata"] == {"note": "hand-made"}


def test_skeleton_of_another_structure_is_named(key, tmp_path):
    path = fk.save(tmp_path / "chain.flowkit", _hand_chain(key))
    with pytest.raises(
        fk.ModelFileError,
        match=r"chain\.flowkit: array \.bijector\.layers\[0\]\."
        r"conditioner\.layers\[0\]\.weight has shape \(8, 2\) and dtype float32 in "
        r"the file, but the skeleton passed as like= has .* shape \(16, 2\)",
    ):
        fk.load(path, like=_hand_chain(key, width=16))
    with pytest.raises(fk.ModelFileError, match=r"the file holds \d+ arrays but the skeleton"):
        fk.load(path, like=fk.realnvp(key, **SIZES))


def test_unnameable_function_says_to_pass_a_skeleton(key, tmp_path):
    def swish(x):
        return x * jax.nn.sigmoid(x)

    flow = fk.realnvp(key, **SIZES, activation=swish)
    path = fk.save(tmp_path / "m.flowkit", flow)
    with pytest.raises(
        fk.ModelFileError,
        match=r"m\.flowkit: holds a flowkit\.flows\._flow\.Flow whose structure could not be "
        r"stored \(.*swish.* has no import path.*\).*like=skeleton",
    ):
        fk.load(path)
    skeleton = fk.realnvp(key, **SIZES, activation=swish)
    x = jnp.ones((3, 4))
    np.testing.assert_array_equal(log_prob(fk.load(path, like=skeleton), x), log_prob(flow, x))


def test_missing_class_is_named(key, tmp_path):
    path = fk.save(tmp_path / "m.flowkit", fk.realnvp(key, **SIZES))
    data = path.read_bytes().replace(b"flowkit.nn._mlp:MLP", b"flowkit.nn._mlp:MLX")
    header_len = int.from_bytes(data[len(SIGNATURE) : len(SIGNATURE) + 8], "little")
    assert len(data) == len(path.read_bytes()) and header_len > 0
    path.write_bytes(data)
    with pytest.raises(fk.ModelFileError, match=r"cannot rebuild the model .*MLX"):
        fk.load(path)


def _coin_flip_flow(key, dim: int, scale: float = 2.0):
    """A flow whose structure depends on the key's value."""
    flip = bool(jax.random.bernoulli(key))
    first = fk.Reverse((dim,)) if flip else fk.Identity((dim,))
    affine = fk.Affine(jnp.arange(dim, dtype=jnp.float32), jnp.full(dim, scale))
    return fk.Flow(fk.Chain([first, affine]), fk.standard_normal((dim,)))


def test_structure_that_depends_on_the_key_comes_back(tmp_path):
    x = jnp.asarray([[0.3, -1.0, 2.0]])
    structures = set()
    for seed in range(4):
        flow = _coin_flip_flow(jax.random.key(seed), dim=3, scale=3.0)
        loaded = fk.load(fk.save(tmp_path / "a", flow))
        np.testing.assert_array_equal(log_prob(loaded, x), log_prob(flow, x))
        structures.add(type(loaded.bijector.layers[0]).__name__)
    assert structures == {"Reverse", "Identity"}


def test_flow_built_under_jit_loads(key, tmp_path):
    flow = eqx.filter_jit(
        lambda k: fk.Flow(fk.Scale(jax.random.normal(k, (3,))), fk.standard_normal((3,)))
    )(jax.random.key(7))
    x = jax.random.normal(key, (3, 3))
    loaded = fk.load(fk.save(tmp_path / "j", flow))
    np.testing.assert_array_equal(log_prob(loaded, x), log_prob(flow, x))


@pytest.fixture
def good_file(key, tmp_path):
    flow = fk.realnvp(key, **SIZES)
    return fk.save(tmp_path / "good.flowkit", flow)


@pytest.mark.parametrize("cut", ["preamble", "header", "payload"])
def test_truncated_file(good_file, cut):
    data = good_file.read_bytes()
    head_len = int.from_bytes(data[len(SIGNATURE) : len(SIGNATURE) + 8], "little")
    end = {
        "preamble": len(SIGNATURE) + 3,
        "header": len(SIGNATURE) + 8 + head_len // 2,
        "payload": len(data) - 100,
    }[cut]
    good_file.write_bytes(data[:end])
    with pytest.raises(fk.ModelFileError, match=r"good\.flowkit: the file is truncated \(.*\)"):
        fk.load(good_file)


def test_newer_format_version(good_file):
    data = good_file.read_bytes()
    new = data.replace(b'"format_version": 2', b'"format_version": 9', 1)
    good_file.write_bytes(new)
    with pytest.raises(
        fk.ModelFileError,
        match=r"good\.flowkit: written in model format version "
        r"9 .* reads versions up to 2\. Upgrade flowkit",
    ):
        fk.load(good_file)
    with pytest.raises(fk.ModelFileError, match="format version 9"):
        fk.model_info(good_file)


def test_damaged_payload(good_file):
    data = bytearray(good_file.read_bytes())
    data[-5] ^= 0xFF
    good_file.write_bytes(bytes(data))
    with pytest.raises(fk.ModelFileError, match=r"good\.flowkit: the parameters are damaged"):
        fk.load(good_file)


def test_not_a_flowkit_file(tmp_path, key):
    npz = tmp_path / "weights.npz"
    np.savez(npz, a=np.ones(3))
    eqx_file = tmp_path / "model.eqx"
    eqx.tree_serialise_leaves(eqx_file, fk.realnvp(key, **SIZES))
    empty = tmp_path / "empty.flowkit"
    empty.write_bytes(b"")
    for path in (npz, eqx_file):
        with pytest.raises(fk.ModelFileError, match=rf"{path.name}: not a flowkit model file"):
            fk.load(path)
    with pytest.raises(fk.ModelFileError, match=r"empty\.flowkit: the file is empty"):
        fk.load(empty)
    with pytest.raises(
        fk.ModelFileError, match=r"is a directory without a best\.flowkit; pass a model file"
    ):
        fk.load(tmp_path)
    (tmp_path / "ckpt" / "1500" / "meta").mkdir(parents=True)  # flowkit.train's layout
    with pytest.raises(
        fk.ModelFileError,
        match=r"ckpt: is a flowkit\.train checkpoint "
        r"directory .* load the run's exported best\.flowkit / last\.flowkit",
    ):
        fk.load(tmp_path / "ckpt")


def test_save_is_atomic_and_overwrites(good_file, key):
    flow = fk.realnvp(key, **SIZES)
    fk.save(good_file, perturb(flow, key))
    assert [p.name for p in good_file.parent.iterdir()] == ["good.flowkit"]  # no temp left
    info = fk.model_info(good_file)
    assert info["format_version"] == 2 and info["jax_version"] == jax.__version__
    assert info["structure"]["structure"]["$module"] == "flowkit.flows._flow:Flow"
