"""Correctness checks every bijector must pass (public: use them on your own bijectors).

``check_bijector`` compares a bijector against autodiff: round trips both ways, log-dets
against ``log|det jax.jacobian|`` both ways, forward/inverse log-dets that negate, jit,
vmap and grad agreeing with eager evaluation, the input dtype kept, parameter and input
gradients against central finite differences, and one compile for bijectors that differ
only in parameter values. On failure it raises ``AssertionError`` naming the property and
the largest error.
"""

from typing import Any

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


def _random_direction(tree, key):
    """A unit-norm random direction in the space of ``tree``'s floating-point leaves."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    keys = jax.random.split(key, max(len(leaves), 1))
    draws = [
        jax.random.normal(k, leaf.shape, leaf.dtype)
        for leaf, k in zip(leaves, keys[: len(leaves)], strict=True)
    ]
    norm = jnp.sqrt(sum(jnp.sum(d**2) for d in draws)) if draws else 1.0
    return jax.tree_util.tree_unflatten(treedef, [d / norm for d in draws])


def _shifted(b, direction, step):
    params, static = eqx.partition(b, eqx.is_inexact_array)
    moved = jax.tree_util.tree_map(lambda p, d: p + step * d, params, direction)
    return eqx.combine(moved, static)


def _check_finite_difference(prop: str, fd, ad, loss, dtype):
    """Central differences against autodiff, allowing float roundoff of the loss."""
    fd, ad, loss = float(fd), float(ad), float(loss)
    rel, roundoff = (1e-5, 1e-8) if jnp.dtype(dtype) == jnp.float64 else (2e-2, 2e-3)
    if not abs(fd - ad) <= rel * abs(ad) + roundoff * (1.0 + abs(loss)):
        raise AssertionError(
            f"{prop}: autodiff directional derivative {ad:.6g} but central finite "
            f"difference {fd:.6g}"
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
    k_x, k_batch, k_dir, k_dir_x = jax.random.split(key, 4)
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

    step = 1e-6 if jnp.dtype(dtype) == jnp.float64 else 1e-3
    direction = _random_direction(eqx.filter(bijector, eqx.is_inexact_array), k_dir)
    direction_x = _random_direction(x, k_dir_x)
    traces = []

    @eqx.filter_jit
    def everything(b, v, vs):
        """All properties in one compiled function, so the check costs one compilation."""
        traces.append(None)  # once per trace: a second one means a retrace
        y, ld_fwd = fwd(b, v)
        grads = eqx.filter(eqx.filter_grad(loss)(b, v), eqx.is_inexact_array)
        grad_x = jax.grad(lambda u: loss(b, u))(v)
        # Leaves held out of gradients (batch-norm running statistics under stop_gradient)
        # have an all-zero gradient; the finite difference does not move them either.
        moving = jax.tree_util.tree_map(
            lambda g, d: jnp.where(jnp.any(g != 0), d, jnp.zeros_like(d)), grads, direction
        )
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
            grads=grads,
            grad_x=grad_x,
            loss=loss(b, v),
            fd_params=(loss(_shifted(b, moving, step), v) - loss(_shifted(b, moving, -step), v))
            / (2 * step),
            ad_params=sum(
                jnp.sum(g * d)
                for g, d in zip(
                    jax.tree_util.tree_leaves(grads),
                    jax.tree_util.tree_leaves(moving),
                    strict=True,
                )
            ),
            fd_x=(loss(b, v + step * direction_x) - loss(b, v - step * direction_x)) / (2 * step),
            ad_x=jnp.sum(grad_x * direction_x),
        )

    y_eager, ld_eager = fwd(bijector, x)  # one eager call, to compare against the compiled one
    out: dict[str, Any] = everything(bijector, x, batch)
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
    if jax.tree_util.tree_leaves(direction):
        _check_finite_difference(
            "parameter gradient", out["fd_params"], out["ad_params"], out["loss"], dtype
        )
    _check_finite_difference("input gradient", out["fd_x"], out["ad_x"], out["loss"], dtype)
    # Other parameter values, same structure: the compiled function must be reused.
    everything(_shifted(bijector, direction, 0.1), x, batch)
    if len(traces) != 1:
        raise AssertionError(
            f"one compile: {type(bijector).__name__} was traced {len(traces)} times for two "
            "parameter values of one structure; a static field depends on array values."
        )
