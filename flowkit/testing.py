"""Correctness checks every bijector and flow must pass (public: use them on your own).

``check_bijector`` compares a bijector against autodiff: round trips both ways, log-dets
against ``log|det jax.jacobian|`` both ways, forward/inverse log-dets that negate, jit,
vmap and grad agreeing with eager evaluation, the input dtype kept, parameter and input
gradients against central finite differences, and one compile for bijectors that differ
only in parameter values. On failure it raises ``AssertionError`` naming the property and
the largest error. ``check_flow`` does the same for a :class:`~flowkit.Flow`: its
densities against the base density and ``log|det jax.jacobian|`` of its bijector, sampling
against ``log_prob``, jit/vmap/grad against eager evaluation, and one compile across keys.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ._typing import Array, ArrayLike, PRNGKeyArray
from .bijectors._base import AbstractBijector
from .flows._flow import Flow

__all__ = ["check_bijector", "check_flow"]


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
    dtype: DTypeLike | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    batch_size: int = 3,
) -> None:
    """Check ``bijector`` at ``x`` (default: standard normal draws from ``key``).

    Args:
        bijector: the bijector to check; its parameters should be random, not an identity
            init. It maps events of ``bijector.shape``.
        key: a PRNG key for the events and the finite-difference directions.
        condition: a condition of ``cond_shape`` for conditional bijectors (one, shared
            by the batch used for the vmap check).
        x: an input event; pass one for bijectors whose domain is not all of R^n.
        dtype: the floating dtype to test (default: float32, or float64 when x64 is on).
        atol: absolute tolerance (default: 2e-4 in float32, 1e-8 in float64).
        rtol: relative tolerance (default: 2e-3 in float32, 1e-7 in float64).
        batch_size: the number of events of the vmap check.

    Raises:
        AssertionError: naming the property that failed and the largest error.
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


def _numpy_direction(tree, key: PRNGKeyArray):
    """A unit-norm random direction over ``tree``'s inexact leaves, drawn with numpy: one
    eager JAX op per leaf shape would compile once per shape, which dominates for deep flows."""
    leaves, treedef = jax.tree_util.tree_flatten(eqx.filter(tree, eqx.is_inexact_array))
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key) if typed else key).ravel())
    draws = [rng.standard_normal(np.shape(leaf)) for leaf in leaves]
    norm = np.sqrt(sum(np.sum(d**2) for d in draws)) if draws else 1.0
    return jax.tree_util.tree_unflatten(treedef, [d / norm for d in draws])


def _shift_flow(flow: Flow, direction, step: float) -> Flow:
    """``flow`` with its bijector's inexact leaves moved by ``step * direction`` (in numpy)."""
    params, static = eqx.partition(flow.bijector, eqx.is_inexact_array)
    moved = jax.tree_util.tree_map(
        lambda p, d: jnp.asarray(np.asarray(p) + step * d, p.dtype), params, direction
    )
    return eqx.tree_at(lambda f: f.bijector, flow, eqx.combine(moved, static))


def _flow_condition(flow: Flow, condition, key: PRNGKeyArray, dtype, batch_size: int):
    """One shared condition and a batch of per-example ones (both None if unconditional)."""
    if flow.cond_shape is None:
        if condition is not None:
            raise ValueError(
                "check_flow: the flow is unconditional but a condition was given; drop it."
            )
        return None, None
    cond_shape = tuple(flow.cond_shape)
    if condition is None:
        condition = jax.random.normal(key, cond_shape, dtype)
    condition = jnp.asarray(condition, dtype)
    if condition.shape != cond_shape:
        raise ValueError(
            f"check_flow: expected one condition of shape {cond_shape} (the flow's cond_shape); "
            f"got {condition.shape}. Pass one condition; the batch check perturbs it."
        )
    noise = jax.random.normal(jax.random.fold_in(key, 1), (batch_size,) + cond_shape, dtype)
    return condition, condition + 0.1 * noise


def check_flow(
    flow: Flow,
    key: PRNGKeyArray,
    condition: ArrayLike | None = None,
    *,
    x: ArrayLike | None = None,
    dtype: DTypeLike | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    batch_size: int = 3,
) -> None:
    """Check that ``flow``'s densities, sampling and transformations agree.

    Checked, on a batch of ``batch_size`` events (drawn from the flow unless ``x`` is given):

    - ``log_prob(x)`` equals ``base.log_prob(z) + log|det jax.jacobian(f^-1)(x)|`` with
      ``z = f^-1(x)`` computed event by event (the change of variables, against autodiff);
    - ``sample_and_log_prob``'s log-densities equal ``log_prob`` of its samples;
    - ``jax.jit`` of ``log_prob`` and of ``sample_and_log_prob`` equals eager evaluation;
      ``jax.vmap`` of the one-event ``log_prob`` equals the batched call (with one condition
      per example for conditional flows); the gradient of the mean log-density is finite and
      agrees with central finite differences along a random parameter direction;
    - outputs keep the input dtype, samples have shape ``(batch_size, *flow.shape)``;
    - one compile: the jitted checks run again with another key and other parameter values
      of the same structure without retracing.

    Keep the flow small (a few layers, events of tens of entries): the Jacobian is dense.

    Args:
        flow: the flow to check; its parameters should be random, not the identity init.
        key: a PRNG key for the events, condition, samples and directions.
        condition: one condition of shape ``flow.cond_shape`` for conditional flows (default:
            a standard normal draw); must be None for unconditional flows.
        x: data events of shape ``(batch_size, *flow.shape)`` (default: samples from the
            flow, which are always in its support); pass some for flows whose samples are
            poor test points.
        dtype: the floating dtype to test (default: float32, or float64 when x64 is on).
        atol: absolute tolerance (default: 2e-4 in float32, 1e-8 in float64), widened by
            the log-det's size for density comparisons.
        rtol: relative tolerance (default: 2e-3 in float32, 1e-7 in float64).
        batch_size: the number of events checked.

    Raises:
        AssertionError: naming the property that failed and the largest error.
        ValueError: if ``condition`` or ``x`` does not fit the flow.
    """
    dtype = dtype or (jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32)
    atol, rtol = _tolerance(dtype, atol, rtol)
    k_cond, k_x, k_sample, k_dir, k_other = jax.random.split(key, 5)
    cond, conds = _flow_condition(flow, condition, k_cond, dtype, batch_size)
    shape = tuple(flow.shape)
    direction = _numpy_direction(flow.bijector, k_dir)
    step = 1e-6 if jnp.dtype(dtype) == jnp.float64 else 1e-3
    traces: list[str] = []

    # Three compiled programs, each called again for every reuse (finite differences, another
    # key): compiling is most of the cost. Densities of x use one condition per example.
    @eqx.filter_jit
    def sample(f: Flow, k):
        traces.append("sample_and_log_prob")
        samples, log_p = f.sample_and_log_prob(k, (batch_size,), cond)
        return samples, log_p, f.log_prob(samples, cond)

    @eqx.filter_jit
    def log_prob_and_grad(f: Flow, v):
        traces.append("log_prob and its gradient")
        loss = lambda g: jnp.mean(g.log_prob(v, conds))  # noqa: E731
        grads = eqx.filter(eqx.filter_grad(loss)(f), eqx.is_inexact_array).bijector
        return f.log_prob(v, conds), grads

    @eqx.filter_jit
    def per_event(f: Flow, v):
        """The change of variables by autodiff, and log_prob vmapped over single events."""
        traces.append("per-event log_prob")

        def by_jacobian(u, c):
            inverse = lambda w: f.bijector.inverse_and_log_det(w, c)[0]  # noqa: E731
            return f.base.log_prob(inverse(u)) + _jacobian_log_det(inverse, u)

        cs = conds if conds is not None else jnp.zeros((batch_size,), v.dtype)
        c_of = (lambda c: None) if conds is None else (lambda c: c)  # noqa: E731
        return (
            jax.vmap(lambda u, c: by_jacobian(u, c_of(c)))(v, cs),
            jax.vmap(lambda u, c: f.log_prob(u, c_of(c)))(v, cs),
        )

    if x is None:
        x = sample(flow, k_x)[0]
    x = jnp.asarray(x, dtype)
    if x.shape != (batch_size,) + shape:
        raise ValueError(
            f"check_flow: expected x of shape {(batch_size,) + shape} (batch_size events of "
            f"the flow's shape); got {x.shape}. Pass batch_size= to match."
        )
    eager_lp = flow.log_prob(x, conds)
    eager_samples, eager_sample_lp = flow.sample_and_log_prob(k_sample, (batch_size,), cond)
    lp, grads = log_prob_and_grad(flow, x)
    samples, sample_lp, samples_lp_again = sample(flow, k_sample)
    for name, value in (("log_prob", lp), ("samples", samples), ("sample log-density", sample_lp)):
        if value.dtype != jnp.dtype(dtype):
            raise AssertionError(
                f"dtype kept: {name} has dtype {value.dtype}, input was {jnp.dtype(dtype)}"
            )
    if samples.shape != (batch_size,) + shape or lp.shape != (batch_size,):
        raise AssertionError(
            f"shapes: samples {samples.shape} and log_prob {lp.shape}; expected "
            f"{(batch_size,) + shape} and {(batch_size,)}"
        )
    # Densities are sums of per-entry terms: allow for their size in float32.
    lp_atol = atol * (1.0 + float(np.max(np.abs(np.asarray(eager_lp, np.float64)))))
    by_jacobian, vmapped = per_event(flow, x)
    _assert_close("jit log_prob == eager", lp, eager_lp, lp_atol, rtol)
    _assert_close(
        "log_prob == base log_prob + log|det jacobian|", lp, by_jacobian, lp_atol * 10, rtol
    )
    _assert_close("vmap log_prob == batched log_prob", vmapped, lp, lp_atol, rtol)
    _assert_close("jit sample == eager", samples, eager_samples, atol, rtol)
    _assert_close("jit sample log-density == eager", sample_lp, eager_sample_lp, lp_atol, rtol)
    _assert_close(
        "sample_and_log_prob log-density == log_prob(sample)",
        sample_lp,
        samples_lp_again,
        lp_atol * 10,
        rtol,
    )
    grads = jax.tree_util.tree_map(np.asarray, grads)
    for leaf in jax.tree_util.tree_leaves(grads):
        if not np.all(np.isfinite(leaf)):
            raise AssertionError("finite gradients: a parameter gradient of log_prob is not finite")
    # Leaves held out of gradients have an all-zero gradient; finite differences skip them.
    moving = jax.tree_util.tree_map(lambda g, d: d if np.any(g != 0) else 0 * d, grads, direction)
    if jax.tree_util.tree_leaves(moving):
        mean = lambda f: float(jnp.mean(log_prob_and_grad(f, x)[0]))  # noqa: E731
        fd = (mean(_shift_flow(flow, moving, step)) - mean(_shift_flow(flow, moving, -step))) / (
            2 * step
        )
        pairs = zip(
            jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(moving), strict=True
        )
        ad = sum(np.sum(g * d) for g, d in pairs)
        _check_finite_difference("gradient of log_prob", fd, ad, mean(flow), dtype)
    # Another key and other parameter values, same structure: nothing may retrace.
    before = sorted(traces)
    other = _shift_flow(flow, direction, 0.01)
    sample(other, k_other)
    log_prob_and_grad(other, x)
    per_event(other, x)
    if sorted(traces) != before:
        again = sorted(set(traces[len(before) :]))
        raise AssertionError(
            f"one compile: {', '.join(again)} traced again for another key and other parameter "
            "values of the same structure; a static field depends on array values."
        )
