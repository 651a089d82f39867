"""Test configuration: 8 fake CPU devices, a key fixture and a float64 switch.

XLA_FLAGS must be set before jax is imported anywhere, so it is set at the top of this file.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402


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
