"""Test configuration: 8 fake CPU devices, strict dtype promotion, a key fixture, a float64
switch, and a marker for tests that pass wrongly typed arguments on purpose.

XLA_FLAGS must be set before jax is imported anywhere, so it is set at the top of this file.
Every flowkit function and module is type-checked at run time (jaxtyping + beartype, via
``--jaxtyping-packages`` in pyproject.toml's pytest options), and JAX promotes dtypes
strictly (no implicit int -> float or float32 -> float64 mixing), so an annotation that lies
or an accidental promotion fails a test.
"""

import os

# The suite compiles with XLA's default flags, as users run: with
# --xla_backend_optimization_level=1 --xla_llvm_disable_expensive_passes=true (about 25 %
# less compile time) xdist workers died of segfaults inside XLA:CPU's backend compile in
# full runs (2 of ~530 tests in one run on 2026-12-07, other tests in earlier runs; issue 32).
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import jaxtyping  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(autouse=True)
def _runtime_type_checks(request):
    """Tests marked ``own_errors`` pin flowkit's own message for an ill-typed or ill-shaped
    argument, what a user without runtime type checking sees, so the checker steps aside."""
    if request.node.get_closest_marker("own_errors") is None:
        yield
        return
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", False)


@pytest.fixture
def key():
    """A fresh PRNG key; tests derive everything random from it."""
    return jax.random.key(0)


@pytest.fixture(params=["float32", "float64"])
def dtype_mode(request):
    """Run a test once in float32 and once with x64 switched on (float64)."""
    if request.param == "float64":
        with jax.enable_x64(True):
            yield request.param
    else:
        yield request.param
