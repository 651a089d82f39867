"""Correctness checks every bijector must pass (public: use them on your own bijectors).

``check_bijector`` compares a bijector against autodiff: round trips both ways, log-dets
against ``log|det jax.jacobian|`` both ways, forward/inverse log-dets that negate, jit,
vmap and grad agreeing with eager evaluation, the input dtype kept, and finite parameter
gradients. On failure it raises ``AssertionError`` naming the property and the largest error.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._typing import Array, ArrayLike, PRNGKeyArray
from .bijectors._base import AbstractBijector


def _tolerance(dtype, atol: float | None, rtol: float | None) -> tuple[float, float]:
    if jnp.dtype(dtype) == jnp.float64:
        return (atol or 1e-8), (rtol or 1e-7)
    return (atol or 2e-4), (rtol or 2e-3)


def _assert_close(prop: str, got, want, atol: float, rtol: float):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{prop}: shapes differ, {got.shape} vs {want.shape}")
    if not (np.all(np.isfinite(got)) and np.all(np.isfinite(want))):
        raise AssertionError(f"{prop}: non-finite values (got {got}, expected {want})")
    err = np.abs(got - want)
    bound = atol + rtol * np.abs(want)
    if np.any(err > bound):
        worst = float(np.max(err - bound + atol))
        raise AssertionError(
            f"{prop}: largest error {float(np.max(err)):.3g} "
            f"(allowed {atol:.1g} + {rtol:.1g}*|expected|; worst excess "
            f"{worst:.3g})"
        )


def _jacobian_log_det(fn, x: Array) -> Array:
    flat_fn = lambda v: fn(v.reshape(x.shape)).reshape(-1)  # noqa: E731
    jac = jax.jacobian(flat_fn)(x.reshape(-1))
    return jnp.linalg.slogdet(jac)[1]


def check_bijector(
    bijector: AbstractBijector,
    key: PRNGKeyArray,
    condition: ArrayLike | None = None,
    *,
    x: ArrayLike | None = None,
    dtype=None,
    atol: float | None = None,
    rtol: float | None = None,
    batch_size: int = 3,
) -> None:
    """Check ``bijector`` at ``x`` (default: standard normal draws from ``key``).

    Args:
        condition: a condition of ``cond_shape`` for conditional bijectors (one, shared
            by the batch used for the vmap check).
        x: an input event; pass one for bijectors whose domain is not all of R^n.
        dtype: the floating dtype to test (default: float32, or float64 when x64 is on).
        atol, rtol: tolerances; defaults are chosen for float32 / float64.
    """
    dtype = dtype or (jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32)
    atol, rtol = _tolerance(dtype, atol, rtol)
    shape = tuple(bijector.shape)
    k_x, k_batch = jax.random.split(key)
    if x is None:
        x = jax.random.normal(k_x, shape, dtype)
        batch = jax.random.normal(k_batch, (batch_size,) + shape, dtype)
    else:
        x = jnp.asarray(x, dtype)
        batch = jnp.stack([x] * batch_size) * (
            1 + 1e-3 * jnp.arange(batch_size, dtype=dtype).reshape((-1,) + (1,) * len(shape))
        )
    cond = None if condition is None else jnp.asarray(condition, dtype)

    def fwd(b, v):
        return b.forward_and_log_det(v, cond)

    def inv(b, v):
        return b.inverse_and_log_det(v, cond)

    def loss(b, v):
        out, ld = fwd(b, v)
        return jnp.sum(out**2) + ld

    @eqx.filter_jit
    def everything(b, v, vs):
        """All properties in one compiled function, so the check costs one compilation."""
        y, ld_fwd = fwd(b, v)
        x_back, ld_inv = inv(b, y)
        y_batch, ld_batch = jax.vmap(lambda u: fwd(b, u))(vs)
        return dict(
            y=y,
            ld_fwd=ld_fwd,
            x_back=x_back,
            ld_inv=ld_inv,
            y_again=fwd(b, x_back)[0],
            jac_fwd=_jacobian_log_det(lambda u: fwd(b, u)[0], v),
            jac_inv=_jacobian_log_det(lambda u: inv(b, u)[0], y),
            y_batch=y_batch,
            ld_batch=ld_batch,
            looped=jax.lax.map(lambda u: fwd(b, u), vs),
            x_batch=jax.vmap(lambda u: inv(b, u)[0])(y_batch),
            grads=eqx.filter(eqx.filter_grad(loss)(b, v), eqx.is_inexact_array),
            grad_x=jax.grad(lambda u: loss(b, u))(v),
        )

    y_eager, ld_eager = fwd(bijector, x)  # one eager call, to compare against the compiled one
    out = everything(bijector, x, batch)
    for name in ("y", "ld_fwd", "x_back", "ld_inv"):
        if out[name].dtype != jnp.dtype(dtype):
            raise AssertionError(
                f"dtype kept: {name} has dtype {out[name].dtype}, input was {jnp.dtype(dtype)}"
            )
    if y_eager.dtype != jnp.dtype(dtype):
        raise AssertionError(f"dtype kept: eager output has dtype {y_eager.dtype}")
    if out["ld_fwd"].shape != ():
        raise AssertionError(f"scalar log-det: forward log-det has shape {out['ld_fwd'].shape}")

    _assert_close("jit forward == eager", out["y"], y_eager, atol, rtol)
    _assert_close("jit forward log-det == eager", out["ld_fwd"], ld_eager, atol, rtol)
    _assert_close("inverse(forward(x)) == x", out["x_back"], x, atol, rtol)
    _assert_close("forward(inverse(y)) == y", out["y_again"], out["y"], atol, rtol)
    _assert_close("forward log-det == -inverse log-det", out["ld_fwd"], -out["ld_inv"], atol, rtol)
    _assert_close(
        "forward log-det == log|det jacobian|", out["ld_fwd"], out["jac_fwd"], atol * 10, rtol
    )
    _assert_close(
        "inverse log-det == log|det jacobian|", out["ld_inv"], out["jac_inv"], atol * 10, rtol
    )
    _assert_close("vmap forward == per-example", out["y_batch"], out["looped"][0], atol, rtol)
    _assert_close("vmap log-det == per-example", out["ld_batch"], out["looped"][1], atol, rtol)
    _assert_close("vmap inverse round trip", out["x_batch"], batch, atol, rtol)
    for leaf in jax.tree_util.tree_leaves(out["grads"]):
        if not bool(jnp.all(jnp.isfinite(leaf))):
            raise AssertionError("finite parameter gradients: a gradient leaf is not finite")
    if not bool(jnp.all(jnp.isfinite(out["grad_x"]))):
        raise AssertionError("finite input gradients: the gradient with respect to x is not finite")
