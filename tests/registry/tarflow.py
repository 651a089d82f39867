"""Registry entries for the transformer flows (issue 18): Patchify, TarFlow's block, Jet's
coupling and the composed tarflow, on 4x4x1 images with 2x2 patches (4 tokens of 4) and
width-16 transformers. Zero-initialised output projections are perturbed, so no entry is
the identity. The uncached block and the conditional flow are checked against these in
tests/test_tarflow.py (cached == uncached sampling; conditional blocks here)."""

import jax

import flowkit as fk

from ._random import randomize


def _block(reverse=False, cond=None, kv_cache=True):
    def build(key):
        k_init, k_rand, k_cond = jax.random.split(key, 3)
        layer = fk.bijectors.TransformerAutoregressive.from_sizes(
            k_init,
            (4, 4),
            width=16,
            depth=1,
            heads=2,
            reverse=reverse,
            kv_cache=kv_cache,
            cond_shape=cond,
        )
        condition = None if cond is None else jax.random.normal(k_cond, cond)
        return randomize(layer, k_rand), condition, None

    return build


def _jet(split, parity=0, cond=None):
    def build(key):
        k_init, k_rand, k_cond = jax.random.split(key, 3)
        layer = fk.bijectors.jet_coupling(
            k_init, (4, 4), split=split, parity=parity, width=16, depth=1, heads=2, cond_shape=cond
        )
        condition = None if cond is None else jax.random.normal(k_cond, cond)
        return randomize(layer, k_rand), condition, None

    return build


def _tarflow(cond=None):
    def build(key):
        k_init, k_rand, k_cond = jax.random.split(key, 3)
        flow = fk.tarflow(
            k_init,
            image_shape=(4, 4, 1),
            patch_size=2,
            num_blocks=2,  # one scan-stacked pair (odd counts: tests/test_tarflow.py)
            layers_per_block=1,
            width=16,
            heads=2,
            cond_shape=cond,
        )
        condition = None if cond is None else jax.random.normal(k_cond, cond)
        return randomize(flow.bijector, k_rand), condition, None

    return build


ENTRIES = {
    "Patchify": lambda key: (fk.bijectors.Patchify((4, 4, 1), 2), None, None),
    "Patchify[rectangular, 3 channels]": lambda key: (
        fk.bijectors.Patchify((2, 4, 3), 2),
        None,
        None,
    ),
    "TransformerAutoregressive": _block(),
    "TransformerAutoregressive[reverse, conditional]": _block(reverse=True, cond=(3,)),
    "jet_coupling[channel]": _jet("channel"),
    "jet_coupling[spatial, parity 1, conditional]": _jet("spatial", 1, cond=(3,)),
    "tarflow": _tarflow(),
}
