"""One optimiser update on one (shard of a) batch: the maths shared by every step flavour."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from ._losses import Loss, split_batch
from ._optimizer import optimizer_update


def _select(ok, new, old):
    """``new`` where ``ok`` else ``old``, leaf by leaf (non-arrays taken from ``new``)."""
    return jax.tree_util.tree_map(
        lambda n, o: jnp.where(ok, n, o) if eqx.is_array(n) else n, new, old
    )


def update_on_batch(
    loss: Loss,
    optimizer: optax.GradientTransformation,
    filter_spec: Callable,
    model,
    opt_state,
    batch: Any,
    key,
    *,
    offset: Any = 0,
    reduce: Callable = lambda tree: tree,
    after_update: Callable | None = None,
):
    """One optimiser step on ``batch``: the maths every step flavour shares.

    A non-finite loss or gradient leaves model and optimiser state unchanged; the metrics
    then say so.

    Args:
        loss: ``loss(model, x, condition, keys) -> dict`` of per-example arrays, shape
            ``(B,)``, one named ``"loss"``.
        optimizer: the optax optimiser.
        filter_spec: ``filter_spec(model)`` selects the trainable leaves.
        model: the model (e.g. a Flow).
        opt_state: the optimiser state of its trainable leaves.
        batch: ``x`` of shape ``(B, *event)``, ``(x, condition)`` or ``{"x", "condition"}``
            (see :func:`split_batch`).
        key: the step's key; example ``i`` draws from ``fold_in(key, offset + i)``.
        offset: the index of this batch's first example in the global batch.
        reduce: averages ``(grads, metrics)`` over devices (``lax.pmean`` under pmap).
        after_update: ``after_update(model, x, condition, keys) -> model`` moves what is
            not trained by gradients (batch-norm running statistics:
            :func:`flowkit.flows.advance_batch_norm`), from the batch as the loss saw it; a
            skipped step skips it too.

    Returns:
        ``(model, opt_state, metrics)``: metrics are the batch means of the loss's entries
        (scalars), ``grad_norm``, ``skipped`` (bool) and ``grads_finite``, shape ``(L,)``,
        one per trainable leaf in the order of ``jax.tree_util.tree_leaves``.
    """
    params, static = eqx.partition(model, filter_spec(model))
    x, condition = split_batch(batch)
    x = jnp.asarray(x)
    condition = None if condition is None else jnp.asarray(condition)
    index = offset + jnp.arange(x.shape[0])
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(index)

    def objective(p):
        per_example = loss(eqx.combine(p, static), x, condition, keys)
        means = {name: value.mean() for name, value in per_example.items()}
        return means["loss"], means

    (_, metrics), grads = jax.value_and_grad(objective, has_aux=True)(params)
    grads, metrics = reduce((grads, metrics))
    grads_finite = jnp.stack(
        [jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)] or [jnp.asarray(True)]
    )
    ok = jnp.isfinite(metrics["loss"]) & jnp.all(grads_finite)
    updates, new_state = optimizer_update(optimizer, grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    params, opt_state = _select(ok, (new_params, new_state), (params, opt_state))
    model = eqx.combine(params, static)
    if after_update is not None:
        model = _select(ok, after_update(model, x, condition, keys), model)
    metrics = {
        **metrics,
        "grad_norm": optax.tree.norm(grads),
        "skipped": ~ok,
        "grads_finite": grads_finite,
    }
    return model, opt_state, metrics
