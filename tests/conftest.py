"""Test configuration: 8 fake CPU devices, strict dtype promotion, a key fixture, a float64
switch, and a marker for tests that pass wrongly typed arguments on purpose.

XLA_FLAGS must be set before jax is imported anywhere, so it is set at the top of this file.
Every flowkit function and module is type-checked at run time (jaxtyping + beartype, via
``--jaxtyping-packages`` in pyproject.toml's pytest options), and JAX promotes dtypes
strictly (no implicit int -> float or float32 -> float64 mixing), so an annotation that lies
or an accidental promotion fails a test.
"""

import gc
import os

# Compiling, not running, is most of the suite's time: XLA:CPU's LLVM backend at -O1 without
# its expensive passes compiles the tests' programs in about 25 % less time (measured: the
# float32 conformance entries 140 -> 108 s). HLO optimisation is unchanged. (-O0 saves no
# more and changes float32 results enough to fail the 1e-6 drift bound of invertible
# backprop.)
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_force_host_platform_device_count=8"
    + " --xla_backend_optimization_level=1 --xla_llvm_disable_expensive_passes=true"
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


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop every compiled program after each test module.

    XLA:CPU maps about 8 memory regions per compiled executable and keeps them while JAX's
    caches hold the executable, so an xdist worker that has compiled about 8,500 programs
    reaches Linux's ``vm.max_map_count`` (65,530 by default); LLVM's next
    allocation then fails ("LLVM compilation error: Cannot allocate memory") and the worker
    dies of a segfault or an abort inside the backend compile. docs/xla_cpu_map_count.md has
    the reproducer. Modules share no compiled programs worth keeping.
    """
    yield
    jax.clear_caches()
    gc.collect()


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
