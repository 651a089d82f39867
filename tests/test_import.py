"""``import flowkit`` stays light: heavy dependencies load only when their feature is used.

Each check runs in a fresh interpreter, since this test process has imported everything.
"""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ("distrax", "tensorflow_probability", "orbax", "grain", "matplotlib", "tqdm")


def _run(script: str) -> dict:
    """Run ``script`` (which prints one JSON line) in a fresh interpreter from the repo root."""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _loaded(after: str) -> str:
    return (
        "import json, sys; import flowkit as fk; "
        f"{after}; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )


def test_import_flowkit_loads_no_heavy_dependency():
    assert _run(_loaded("pass")) == []


def test_subpackages_are_reachable_as_attributes():
    script = _loaded(
        "assert callable(fk.train.make_step); "
        "assert all(hasattr(fk, n) for n in ('bijectors', 'data', 'distributed', 'flows', "
        " 'io', 'nn', 'plots', 'testing', 'train'))"
    )
    # fk.plots and fk.data were touched, so matplotlib and Grain (which imports orbax) are in;
    # none of them pulls in distrax or a progress bar.
    assert set(_run(script)) <= {"matplotlib", "grain", "orbax"}


def test_make_step_alone_imports_no_checkpointing_or_distrax():
    assert _run(_loaded("fk.train.make_step")) == []


def test_a_flow_builds_after_a_light_import():
    script = (
        "import json, jax, flowkit as fk; "
        "flow = fk.realnvp(key=jax.random.key(0), dim=2, num_layers=2, width=8); "
        "lp = flow.log_prob(jax.numpy.zeros((3, 2))); "
        "print(json.dumps([list(lp.shape), bool(jax.numpy.all(jax.numpy.isfinite(lp)))]))"
    )
    assert _run(script) == [[3], True]


def test_unknown_attribute_is_an_attribute_error():
    import flowkit as fk

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        fk.nope  # noqa: B018
    assert {"train", "data", "plots", "ToDistrax"} <= set(dir(fk))


def test_toy_data_sets_live_in_data_and_stay_at_the_top_level():
    import flowkit as fk

    for name in ("two_moons", "gaussian_mixture", "checkerboard", "circles"):
        assert getattr(fk, name) is getattr(fk.data, name), name
    assert not hasattr(fk.flows, "two_moons") and not hasattr(fk, "TOY_DATASETS")


# Plumbing, kernels and registries that once leaked to the top level (issue 28)
INTERNALS = (
    "Child", "Scan", "SplitChannels", "MergeChannels", "AbstractPlumbing", "apply_to_batch",
    "MEMORY_MODES", "rqs_forward", "rqs_inverse", "spline_knots", "register_exact_inverse",
    "has_exact_cheap_inverse", "split_for_devices", "params_ema", "ema_params",
)  # fmt: skip


def test_the_public_face_is_one_explicit_list():
    import flowkit as fk

    assert sorted(fk.__all__) == sorted(set(fk.__all__)) == dir(fk)
    assert len(fk.__all__) <= 80, len(fk.__all__)
    for name in fk.__all__:  # every listed name resolves (lazy ones included)
        getattr(fk, name)
    leaked = [name for name in INTERNALS if hasattr(fk, name)]
    assert not leaked, leaked
    for kernel in ("rqs_forward", "rqs_inverse", "spline_knots"):
        assert not hasattr(fk.bijectors, kernel), kernel


def test_every_public_package_lists_its_names():
    import importlib

    import flowkit as fk

    for package in fk._SUBPACKAGES:
        module = importlib.import_module(f"flowkit.{package}")
        names = getattr(module, "__all__", None)
        assert names is not None, f"flowkit.{package} has no __all__"
        missing = [name for name in names if not hasattr(module, name)]
        assert not missing, (package, missing)
