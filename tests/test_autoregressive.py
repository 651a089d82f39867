"""MAF/IAF/NSF layers and flows: one-pass vs sequential directions, consistency of sampling
and density, conditioning (density changes with it, clear errors without it), class labels."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flowkit as fk

from .registry.autoregressive import randomize

DIM, COND = 4, 3


def _jaxpr(layer, method: str, dim: int = DIM):
    """The traced program of ``layer.method`` on one event (abstract inputs: no compiling)."""
    event = jax.ShapeDtypeStruct((dim,), jnp.float32)
    closed, _, _ = eqx.filter_make_jaxpr(lambda b, x: getattr(b, method)(x))(layer, event)
    return closed


def _has_loop(layer, method: str) -> bool:
    """Whether ``layer.method`` runs a while loop or a scan."""
    text = str(_jaxpr(layer, method))
    return "while[" in text or "scan[" in text


def _count_equations(jaxpr) -> int:
    """Equations in a jaxpr, those of sub-jaxprs (loop bodies, branches) included."""
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    total += _count_equations(inner)
    return total


def _layer(cls, key, dim=DIM, cond_size=None, abstract=False):
    """An affine MAF/IAF layer; ``abstract`` builds it under eval_shape (shapes only)."""

    def make(k):
        made = fk.nn.MADE(k, dim, 2, width=16, cond_size=cond_size)
        return cls(made, fk.bijectors.AffineTransformer(dim))

    return eqx.filter_eval_shape(make, key) if abstract else make(key)


@pytest.mark.parametrize(
    ("cls", "one_pass"),
    [(fk.MaskedAutoregressive, "inverse"), (fk.InverseAutoregressive, "forward")],
)
def test_one_pass_and_sequential_directions(key, cls, one_pass):
    layer = _layer(cls, key, abstract=True)
    fwd = _has_loop(layer, "forward_and_log_det")
    inv = _has_loop(layer, "inverse_and_log_det")
    assert (fwd, inv) == ((True, False) if one_pass == "inverse" else (False, True))


def _flow_program(make, key, method: str) -> str:
    """The traced program of a flow's ``sample_and_log_prob`` or ``log_prob`` on 8 events."""
    flow = eqx.filter_eval_shape(make, key)
    if method == "sample":
        closed = eqx.filter_make_jaxpr(lambda f: f.sample_and_log_prob(jax.random.key(0), (8,)))
        return str(closed(flow)[0])
    closed = eqx.filter_make_jaxpr(lambda f, x: f.log_prob(x))
    return str(closed(flow, jax.ShapeDtypeStruct((8, DIM), jnp.float32))[0])


def test_flow_level_one_pass_paths(key):
    """IAF ``sample_and_log_prob`` and MAF ``log_prob`` run one loop, the scan over the layer
    stack; MAF sampling and IAF density add the per-dimension loop (a fori_loop with a
    static trip count, traced as a scan) inside it."""

    def iaf(k):
        return fk.iaf(k, dim=DIM, num_layers=2)

    def maf(k):
        return fk.maf(k, dim=DIM, num_layers=2)

    def loops(make, method):
        text = _flow_program(make, key, method)
        return text.count("scan[") + text.count("while[")

    assert loops(iaf, "sample") == 1 and loops(maf, "log_prob") == 1
    assert loops(maf, "sample") == 2 and loops(iaf, "log_prob") == 2


def test_sequential_direction_is_not_unrolled_over_dimensions(key):
    """The traced program of MAF sampling has the same size for D=3 and D=40."""
    sizes = []
    for dim in (3, 40):
        layer = _layer(fk.MaskedAutoregressive, key, dim=dim, abstract=True)
        sizes.append(_count_equations(_jaxpr(layer, "forward_and_log_det", dim).jaxpr))
    assert sizes[0] == sizes[1], sizes


@eqx.filter_jit
def _sample_then_density(flow, key, cond, other_cond):
    """Sample with densities one way; evaluate them the other way, also under another cond."""
    x, log_p = flow.sample_and_log_prob(key, (16,), cond)
    if cond is None:
        return x, log_p, flow.log_prob(x), None
    both = jax.vmap(lambda c: flow.log_prob(x, c))(jnp.stack([cond, other_cond]))
    return x, log_p, both[0], both[1]


@pytest.mark.parametrize(
    "make",
    [
        lambda k: fk.maf(
            k, dim=DIM, num_layers=2, width=16, transformer="softplus", cond_shape=COND
        ),
        lambda k: fk.iaf(
            k, dim=DIM, num_layers=2, width=16, transformer="spline", permutation="random"
        ),
        lambda k: fk.nsf(k, dim=DIM, num_layers=2, width=16, cond_shape=COND),
    ],
    ids=["maf-softplus", "iaf-spline", "nsf"],
)
def test_flows_sample_density_consistency_and_conditioning(key, make):
    """``sample_and_log_prob`` (one direction) agrees with ``log_prob`` (the other)."""
    k_flow, k_rand, k_sample, k_c = jax.random.split(key, 4)
    # Moderate noise: strongly random splines get flat stretches (derivatives ~1e-5) whose
    # float32 inverse is ill-conditioned, which the IAF's sequential inverse then amplifies.
    flow = randomize(make(k_flow), k_rand, scale=0.2)
    cond = None if flow.cond_shape is None else jax.random.normal(k_c, (COND,))
    other_cond = None if cond is None else cond + 1.0
    x, log_p, log_p_again, other = _sample_then_density(flow, k_sample, cond, other_cond)
    assert x.shape == (16, DIM) and bool(jnp.all(jnp.isfinite(x)))
    np.testing.assert_allclose(log_p, log_p_again, rtol=1e-3, atol=1e-3)
    if other is not None:
        assert float(jnp.max(jnp.abs(other - log_p))) > 1e-2  # the density uses the condition


def test_factories_build_the_advertised_layers(key):
    """Structure only: built under eval_shape, so nothing is computed or compiled."""

    def build(make):
        return eqx.filter_eval_shape(make, key)

    cases = {
        "maf": (lambda k: fk.maf(k, dim=DIM, num_layers=3), fk.MaskedAutoregressive),
        "iaf": (
            lambda k: fk.iaf(k, dim=DIM, transformer="softplus", permutation="random"),
            fk.InverseAutoregressive,
        ),
        "nsf-ar": (
            lambda k: fk.nsf(k, dim=DIM, kind="autoregressive"),
            fk.MaskedAutoregressive,
        ),
    }
    transformers = {
        "maf": fk.bijectors.AffineTransformer,
        "iaf": fk.bijectors.SoftplusAffineTransformer,
        "nsf-ar": fk.bijectors.RationalQuadraticSplineTransformer,
    }
    permutations = {"maf": fk.Reverse, "iaf": fk.Permute, "nsf-ar": fk.Reverse}
    for name, (make, cls) in cases.items():
        stack = build(make).bijector
        assert isinstance(stack, fk.Stack), name
        layer, permutation = stack.layers.layers  # one stacked (layer, permutation) pair
        assert isinstance(layer, cls) and isinstance(permutation, permutations[name]), name
        assert isinstance(layer.transformer, transformers[name]), name
    assert build(cases["maf"][0]).bijector.num_layers == 3
    coupling = build(lambda k: fk.nsf(k, dim=DIM, num_layers=3, num_bins=5, tail_bound=4.0))
    first = coupling.bijector.layers[0].layers.layers[0]
    assert isinstance(first, fk.Coupling)
    assert first.transformer.num_bins == 5 and first.transformer.tail_bound == 4.0


def test_missing_or_wrong_condition_errors(key):
    # The checks run before any computation, so abstract (eval_shape) models suffice.
    flow = eqx.filter_eval_shape(
        lambda k: fk.maf(k, dim=DIM, num_layers=2, width=16, cond_shape=COND), key
    )
    x = jnp.zeros((5, DIM))
    with pytest.raises(ValueError, match=r"this flow is conditional; pass condition= of shape"):
        flow.log_prob(x)
    with pytest.raises(ValueError, match=r"expected condition of shape \(\*batch, 3\).*got \(2,\)"):
        flow.log_prob(x, jnp.zeros(2))
    with pytest.raises(ValueError, match=r"this flow is conditional"):
        flow.sample(jax.random.key(0), (2,))
    layer = _layer(fk.MaskedAutoregressive, key, cond_size=COND, abstract=True)
    assert layer.cond_shape == (COND,)
    with pytest.raises(ValueError, match=r"expected a condition of shape \(3,\); got None"):
        layer.inverse(jnp.zeros(DIM))
    with pytest.raises(ValueError, match=r"expected condition of shape \(3,\).*got shape \(4,\)"):
        layer.forward(jnp.zeros(DIM), jnp.zeros(4))
    with pytest.raises(TypeError, match="expected a floating-point array for condition"):
        layer.forward(jnp.zeros(DIM), jnp.zeros(COND, jnp.int32))


def test_construction_errors(key):
    spline = fk.bijectors.RationalQuadraticSplineTransformer(4)
    made = eqx.filter_eval_shape(lambda k: fk.nn.MADE(k, DIM, 2), key)
    with pytest.raises(ValueError, match=r"MADE gives 2 parameters per dimension but the "):
        fk.MaskedAutoregressive(made, spline)
    with pytest.raises(ValueError, match=r"cond_shape \(3,\) has 3 entries but the MADE"):
        fk.InverseAutoregressive(made, fk.bijectors.SoftplusAffineTransformer(), cond_shape=(3,))
    with pytest.raises(ValueError, match="EmbedCondition: MaskedAutoregressive is uncondit"):
        fk.bijectors.EmbedCondition(key, _layer(fk.MaskedAutoregressive, key, abstract=True), 3)


@eqx.filter_jit
def _per_class(flow, x, labels, num_classes):
    """Log-densities of ``x`` under every class, under its own labels, and their gradient."""
    classes = jax.nn.one_hot(jnp.arange(num_classes), num_classes)
    per_class = jax.vmap(lambda c: flow.log_prob(x, c))(classes)
    grads = eqx.filter_grad(lambda f: -f.log_prob(x[:3], labels[:3]).mean())(flow)
    return per_class, flow.log_prob(x, labels), grads


def test_class_conditional_flow_with_learned_embedding(key):
    """One-hot labels through EmbedCondition: each class its own density, trainable rows."""
    k_flow, k_embed, k_x = jax.random.split(key, 3)
    flow = randomize(fk.maf(k_flow, dim=DIM, num_layers=2, width=16, cond_shape=2), k_x)
    flow = fk.Flow(fk.bijectors.EmbedCondition(k_embed, flow.bijector, 5), flow.base)
    assert flow.cond_shape == (5,)
    x = jax.random.normal(k_x, (8, DIM))
    labels = jax.nn.one_hot(jnp.arange(8) % 5, 5)
    per_class, own, grads = _per_class(flow, x, labels, 5)
    assert float(jnp.min(jnp.std(per_class, axis=0))) > 1e-3  # classes differ
    np.testing.assert_allclose(own, per_class[jnp.arange(8) % 5, jnp.arange(8)], rtol=1e-5)
    # Only the embedding rows of classes present in the batch get a gradient.
    row_norms = jnp.abs(grads.bijector.embedding).sum(-1)
    assert bool(jnp.all(row_norms[:3] > 0)) and bool(jnp.all(row_norms[3:] == 0))
    with pytest.raises(TypeError, match="expected a floating-point array for condition"):
        flow.bijector.forward(x[0], jnp.array([0, 1, 0, 0, 0]))
