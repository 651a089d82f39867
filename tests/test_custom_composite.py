"""docs/composites.md: a composite written as one class works in every walker of a model."""

import re
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import flowkit as fk
from tests.registry._random import randomize

DOC = Path(__file__).resolve().parents[1] / "docs" / "composites.md"


def _doc_namespace() -> dict:
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    namespace: dict = {"__name__": "composites_doc"}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102
    return namespace


def test_the_documented_composite_runs_everywhere():
    ns = _doc_namespace()
    conjugate = ns["Conjugate"]
    k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
    layer = randomize(
        conjugate(
            fk.InvertibleConv1x1(k1, (4,)), fk.affine_coupling(k2, fk.bijectors.half_mask(4))
        ),
        k3,
    )
    fk.testing.check_bijector(layer, jax.random.key(4))
    assert dict(fk.flows.backprop_plan(layer)) == {
        "InvertibleConv1x1": "invert",
        "Coupling[AffineTransformer]": "invert",
    }
    assert layer.has_exact_inverse()
    # invertible backprop through it: the same gradients as plain autodiff
    flow = fk.Flow(fk.Chain([fk.ActNorm((4,)), layer]), fk.standard_normal((4,)))
    x = jax.random.normal(jax.random.key(5), (16, 4))
    flow = fk.data_init(flow, x)  # the batch pass walks into the new class
    z = jax.vmap(flow.bijector.inverse)(x)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-4)  # ActNorm saw layer^-1(x)

    def nll(f):
        return -f.log_prob(x).mean()

    plain = eqx.filter_grad(nll)(flow)
    rebuilt = eqx.filter_grad(lambda p: nll(fk.with_memory_mode(p, "invertible")))(flow)
    for a, b in zip(
        jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(rebuilt), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-5)
    assert jnp.isfinite(nll(flow))
