"""Registry entry for the memory-mode wrapper (issue 11)."""

import jax

import flowkit as fk

from .autoregressive import randomize


def _memory_mode(key):
    """Invertible backprop over one conditional coupling: the conformance checks (Jacobians,
    jit, vmap, grad) differentiate through the custom backward pass one event at a time.
    Stacks, fallbacks and every layer kind are covered by tests/test_memory.py; this entry
    is kept to one layer, as each costs seconds of compilation per dtype."""
    k_init, k_rand, k_cond = jax.random.split(key, 3)
    coupling = fk.affine_coupling(
        k_init, fk.bijectors.half_mask(3), width=8, depth=1, cond_shape=(2,)
    )
    bijector = fk.flows.MemoryMode(randomize(coupling, k_rand), "invertible")
    return bijector, jax.random.normal(k_cond, (2,)), None


ENTRIES = {"MemoryMode[invertible, conditional coupling]": _memory_mode}
