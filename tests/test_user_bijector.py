"""docs/bijectors.md: a leaf bijector written with the public method names (a learned
sinh-arcsinh) passes check_bijector, trains with fit and round-trips through save/load; a
composite that calls its children directly is refused by the batch pass instead of losing
its ActNorm data init silently, and is stored (not rebuilt) by invertible backprop."""

import inspect
import re
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk
from flowkit.testing import check_bijector
from tests.registry._random import randomize

DOC = Path(__file__).resolve().parents[1] / "docs" / "bijectors.md"


class SinhArcsinh(fk.AbstractBijector):
    """``y = sinh(tailweight * (arcsinh(x) + skew))`` entry by entry, with a learned skew
    and a learned positive tailweight per entry (Jones & Pewsey 2009)."""

    skew: jax.Array
    log_tailweight: jax.Array
    shape: tuple[int, ...] = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True)

    exact_inverse = True  # closed form and one pass both ways: invertible backprop may rebuild

    def __init__(self, key, shape):
        k_skew, k_tail = jax.random.split(key)
        self.skew = 0.1 * jax.random.normal(k_skew, shape)
        self.log_tailweight = 0.1 * jax.random.normal(k_tail, shape)
        self.shape = tuple(shape)
        self.cond_shape = None

    def forward_and_log_det(self, x, condition=None):
        tailweight = jnp.exp(self.log_tailweight)
        u = tailweight * (jnp.arcsinh(x) + self.skew)
        # log cosh(u) as logaddexp(u, -u) - log 2: no overflow for large |u|
        log_deriv = (
            jnp.logaddexp(u, -u) - jnp.log(2.0) + self.log_tailweight - 0.5 * jnp.log1p(x**2)
        )
        return jnp.sinh(u), jnp.sum(log_deriv)

    def inverse_and_log_det(self, y, condition=None):
        x = jnp.sinh(jnp.arcsinh(y) * jnp.exp(-self.log_tailweight) - self.skew)
        return x, -self.forward_and_log_det(x)[1]


def _doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def _skewed_data(key, n=512):
    """Draws of a skewed, heavy-tailed 2-D density: a sinh-arcsinh of normal noise."""
    z = jax.random.normal(key, (n, 2))
    return jnp.sinh(1.5 * (jnp.arcsinh(z) + jnp.array([0.8, -0.5])))


def test_the_docs_show_this_bijector():
    assert inspect.getsource(SinhArcsinh) in _doc_blocks()[0]


def test_the_docs_run():
    namespace: dict = {"__name__": "bijectors_doc"}
    for code in _doc_blocks():
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102


def test_user_bijector_conforms(key, dtype_mode):
    k_init, k_rand, k_check = jax.random.split(key, 3)
    bijector = randomize(SinhArcsinh(k_init, (3, 2)), k_rand, scale=0.5)
    dtype = jnp.float64 if dtype_mode == "float64" else jnp.float32
    assert bijector.skew.dtype == dtype
    check_bijector(bijector, k_check)
    assert bijector.out_shape == (3, 2) and bijector.has_exact_inverse()


def test_public_calls_are_validated(key):
    bijector = SinhArcsinh(key, (2,))
    with pytest.raises(
        ValueError, match=r"SinhArcsinh.forward_and_log_det: expected x of shape \(2,\)"
    ):
        bijector.forward_and_log_det(jnp.zeros(3))
    with pytest.raises(
        ValueError, match=r"SinhArcsinh.inverse_and_log_det: expected y of shape \(2,\)"
    ):
        bijector.inverse(jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"unconditional \(cond_shape=None\) but got a condition"):
        bijector.forward(jnp.zeros(2), jnp.zeros(1))


def test_user_bijector_trains_and_round_trips(key, tmp_path):
    k_init, k_data, k_fit = jax.random.split(key, 3)
    flow = fk.Flow(SinhArcsinh(k_init, (2,)), fk.standard_normal((2,)))
    data = _skewed_data(k_data)
    trained, _ = fk.fit(
        k_fit, flow, data, batch_size=64, stopping=fk.Stopping(max_steps=100), progress=False
    )

    def nll(f):
        return float(-jnp.mean(f.log_prob(data)))

    assert nll(trained) < nll(flow) - 0.05, (nll(flow), nll(trained))
    loaded = fk.load(fk.save(tmp_path / "sinh_arcsinh.flowkit", trained))
    assert isinstance(loaded.bijector, SinhArcsinh)
    np.testing.assert_array_equal(loaded.log_prob(data), trained.log_prob(data))


class _Direct(fk.AbstractBijector):
    """``y = inner(outer(x))`` with the children called directly (no ``pieces``)."""

    outer: fk.AbstractBijector
    inner: fk.AbstractBijector
    shape: tuple[int, ...] = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True, default=None)

    def forward_and_log_det(self, x, condition=None):
        h, ld_outer = self.outer.forward_and_log_det(x)
        y, ld_inner = self.inner.forward_and_log_det(h)
        return y, ld_outer + ld_inner

    def inverse_and_log_det(self, y, condition=None):
        h, ld_inner = self.inner.inverse_and_log_det(y)
        x, ld_outer = self.outer.inverse_and_log_det(h)
        return x, ld_inner + ld_outer


def test_a_direct_composite_is_refused_by_the_batch_pass_and_stored_by_backprop(key):
    k1, k2, k3 = jax.random.split(key, 3)
    direct = _Direct(outer=fk.ActNorm((2,)), inner=SinhArcsinh(k1, (2,)), shape=(2,))
    check_bijector(randomize(direct, k2), k3)
    with pytest.raises(
        TypeError, match="_Direct holds an ActNorm or BatchNorm, but the batch pass"
    ):
        fk.data_init(direct, jnp.ones((4, 2)))
    assert fk.flows.backprop_plan(direct) == [("_Direct", "remat")]
    composite = fk.Chain([fk.ActNorm((2,)), SinhArcsinh(k1, (2,))])
    assert fk.flows.backprop_plan(composite) == [("SinhArcsinh", "invert"), ("ActNorm", "invert")]
