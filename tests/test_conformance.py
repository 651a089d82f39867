"""Every public bijector passes check_bijector on random parameters, in float32 and float64."""

import inspect
import zlib

import jax
import pytest

import flowkit as fk
from flowkit.testing import check_bijector

from .registry import ENTRIES

# Public constructor functions that return bijectors (classes are found automatically).
CONSTRUCTORS = {
    "affine_coupling",
    "additive_coupling",
    "conv_affine_coupling",
    "jet_coupling",
    "mlp_coupling",
    "spline_coupling",
    "split_prior",
}


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_bijector_conforms(name, dtype_mode):
    # A stable seed per entry (str hash() is salted per process, so xdist workers would draw
    # different parameters and a failure could not be reproduced).
    key = jax.random.key(zlib.crc32(name.encode()))
    bijector, condition, x = ENTRIES[name](key)
    check_bijector(bijector, jax.random.fold_in(key, 1), condition, x=x)


def _public_bijector_names() -> set[str]:
    names = set(CONSTRUCTORS)
    for name in dir(fk):
        obj = getattr(fk, name)
        if (
            inspect.isclass(obj)
            and issubclass(obj, fk.AbstractBijector)
            and not name.startswith("Abstract")
        ):
            names.add(name)
    return names


def test_registry_covers_every_public_bijector():
    registered = {name.split("[")[0] for name in ENTRIES}
    missing = _public_bijector_names() - registered
    assert not missing, f"public bijectors missing from tests/registry: {sorted(missing)}"
