"""Conv2d: values and gradients equal a plain convolution's under every transformation, and
every convolution XLA compiles for its gradient inside ``lax.scan`` is canonical NHWC/HWIO."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import flowkit as fk


def reference(x, w, b):
    """A plain NHWC/HWIO "same" convolution of one image, differentiated by JAX itself."""
    p = (w.shape[0] - 1) // 2
    dn = ("NHWC", "HWIO", "NHWC")
    return lax.conv_general_dilated(x[None], w, (1, 1), [(p, p)] * 2, dimension_numbers=dn)[0] + b


def inputs(key, batch=(), k=3, h=5, w=6, cin=3, cout=4):
    kx, kw, kb = jax.random.split(key, 3)
    x = jax.random.normal(kx, (*batch, h, w, cin))
    return x, jax.random.normal(kw, (k, k, cin, cout)), jax.random.normal(kb, (cout,))


def ours(x, w, b):
    """The same convolution through fk.nn.Conv2d, with ``w`` and ``b`` as its parameters."""
    conv = fk.nn.Conv2d(jax.random.key(0), w.shape[2], w.shape[3], w.shape[0])
    return eqx.tree_at(lambda c: (c.weight, c.bias), conv, (w, b))(x)


def loss(conv):
    """A scalar of a vmapped conv, non-linear so that every cotangent differs."""
    return lambda x, w, b: jnp.sum(jnp.sin(jax.vmap(conv, (0, None, None))(x, w, b)))


def tol(dtype_mode: str) -> float:
    return 1e-10 if dtype_mode == "float64" else 2e-5


@pytest.mark.parametrize("k", [1, 3])
def test_values_and_gradients_match_a_plain_conv(key, dtype_mode, k):
    x, w, b = inputs(key, (2,), k=k)
    assert x.dtype == (jnp.float64 if dtype_mode == "float64" else jnp.float32)
    batched = lambda conv: jax.jit(jax.vmap(conv, (0, None, None)))(x, w, b)  # noqa: E731
    np.testing.assert_allclose(
        batched(ours), batched(reference), rtol=tol(dtype_mode), atol=tol(dtype_mode)
    )
    got = jax.jit(jax.grad(loss(ours), (0, 1, 2)))(x, w, b)
    want = jax.jit(jax.grad(loss(reference), (0, 1, 2)))(x, w, b)
    for g, r in zip(got, want, strict=True):
        np.testing.assert_allclose(g, r, rtol=tol(dtype_mode), atol=tol(dtype_mode))


def test_transformations(key):
    """Unbatched grad, per-example grads (vmap of grad), nested vmap, jit, forward mode,
    jacrev and inside lax.scan: all equal the plain convolution's."""
    x, w, b = inputs(key, (2, 3))
    f = lambda conv: lambda x, w, b: jnp.sum(jnp.sin(conv(x, w, b)))  # noqa: E731
    cases = {
        "grad": lambda c: jax.grad(f(c), (0, 1, 2))(x[0, 0], w, b),
        "vmap_grad": lambda c: jax.vmap(jax.grad(f(c), (0, 1, 2)), (0, None, None))(x[0], w, b),
        "nested_vmap_grad": lambda c: jax.jit(
            jax.grad(
                lambda x, w, b: jnp.sum(
                    jnp.sin(jax.vmap(jax.vmap(c, (0, None, None)), (0, None, None))(x, w, b))
                ),
                (0, 1, 2),
            )
        )(x, w, b),
        "jvp": lambda c: jax.jvp(f(c), (x[0, 0], w, b), (x[0, 1], w * 2, b))[1],
        "jacrev": lambda c: jax.jacrev(lambda x: c(x, w, b))(x[0, 0]),
        "scan": lambda c: jax.grad(
            lambda x, w, b: jnp.sum(
                lax.scan(
                    lambda h, _: (
                        jnp.tanh(jax.vmap(c, (0, None, None))(h, w[..., :3], b[:3])),
                        None,
                    ),
                    x[0],
                    None,
                    length=3,
                )[0]
            ),
            (0, 1, 2),
        )(x, w, b),
    }
    for name, case in cases.items():
        got, want = (jax.tree.leaves(jax.jit(case, static_argnums=0)(c)) for c in (ours, reference))
        for g, r in zip(got, want, strict=True):
            np.testing.assert_allclose(g, r, rtol=2e-5, atol=2e-5, err_msg=name)


def test_gradient_in_a_scan_compiles_to_canonical_convolutions(key):
    """Every convolution in the optimized HLO of a scanned conv stack's gradient is
    NHWC/HWIO (XLA:CPU's fast layout; inside a while loop nothing rewrites other layouts)."""
    x, w, b = inputs(key, (4,), cin=4, cout=4)
    ws, bs = jnp.stack([w] * 3), jnp.stack([b] * 3)

    def stack_loss(x, ws, bs):
        def body(h, wb):
            return h + jnp.tanh(jax.vmap(ours, (0, None, None))(h, *wb)), None

        return jnp.sum(lax.scan(body, x, (ws, bs))[0] ** 2)

    hlo = jax.jit(jax.grad(stack_loss, (0, 1, 2))).lower(x, ws, bs).compile().as_text() or ""
    convs = [line for line in hlo.splitlines() if "convolution(" in line]
    assert len(convs) >= 3  # forward, input gradient, kernel gradient
    labels = {label for line in convs for label in re.findall(r"dim_labels=([^,\s]+)", line)}
    assert labels == {"b01f_01io->b01f"}, labels


@pytest.mark.own_errors  # a batch passed to Conv2d: its own message
def test_init_and_errors(key):
    conv = fk.nn.Conv2d(key, 3, 5, 3)
    assert conv.bias is not None
    assert conv.weight.shape == (3, 3, 3, 5) and conv.bias.shape == (5,)
    bound = 1 / np.sqrt(27)
    assert float(jnp.abs(conv.weight).max()) <= bound and float(jnp.abs(conv.bias).max()) <= bound
    assert float(jnp.abs(conv.weight).max()) > bound / 2
    zero = fk.nn.Conv2d(key, 3, 5, zero_init=True, use_bias=False)
    assert zero.bias is None and not np.any(zero.weight)
    assert zero(jnp.ones((4, 4, 3))).shape == (4, 4, 5)
    with pytest.raises(
        ValueError, match=r"expected one image of shape \(H, W, 3\); got shape \(2, 4, 4, 3\)"
    ):
        conv(jnp.ones((2, 4, 4, 3)))
    with pytest.raises(
        ValueError, match=r"expected one image of shape \(H, W, 3\); got shape \(4, 4, 2\)"
    ):
        conv(jnp.ones((4, 4, 2)))
    with pytest.raises(ValueError, match="kernel_size odd"):
        fk.nn.Conv2d(key, 3, 5, 4)
