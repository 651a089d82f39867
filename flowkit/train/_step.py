"""The single-device training step."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .._engine._modes import MemoryModeName
from .._engine._with_memory_mode import memory_loss
from ..flows._frozen_base import trainable_filter
from ._loss_objects import DEFAULT_LOSS
from ._losses import Loss, split_batch
from ._train_step import TrainStep, to_host
from ._update import update_on_batch


def _leading(batch) -> int:
    return int(jax.tree_util.tree_leaves(split_batch(batch)[0])[0].shape[0])


def make_step(
    optimizer: optax.GradientTransformation,
    loss: Loss = DEFAULT_LOSS,
    *,
    filter_spec: Callable = trainable_filter,
    memory: MemoryModeName = "standard",
    after_update: Callable | None = None,
) -> TrainStep:
    """A jitted one-device ``step(model, opt_state, batch, key) -> (model, opt_state, metrics)``.

    ``batch`` is ``x`` of shape ``(B, *event)``, ``(x, condition)`` or ``{"x", "condition"}``;
    keep ``B`` fixed so the step compiles once. Initialise the state with
    :func:`init_opt_state`. Metrics: see :func:`update_on_batch`.

    Args:
        optimizer: the optax optimiser.
        loss: a loss object (:class:`NLL`, :class:`BitsPerDim`) or any
            ``loss(model, x, condition, keys) -> dict`` of per-example arrays, shape
            ``(B,)``, one named ``"loss"``.
        filter_spec: ``filter_spec(model)`` selects the trained leaves (default
            :func:`trainable_filter`: all but the base distribution).
        memory: how the flow's gradient is taken: ``"standard"``, ``"remat"`` or
            ``"invertible"`` (activation memory flat in depth; see
            :func:`flowkit.with_memory_mode`); parameters and optimiser state are the same
            in every mode.
        after_update: see :func:`update_on_batch` (e.g.
            :func:`flowkit.flows.advance_batch_norm` for a flow with batch norm).

    Returns:
        The :class:`TrainStep` (kind ``"jit"``).

    Raises:
        ValueError: an unknown ``memory`` mode.
    """
    loss = memory_loss(loss, memory, owner="make_step")

    @eqx.filter_jit
    def update(model, opt_state, batch, key):
        return update_on_batch(
            loss, optimizer, filter_spec, model, opt_state, batch, key, after_update=after_update
        )

    return TrainStep(
        update=update,
        put_state=lambda tree: jax.tree_util.tree_map(
            lambda x: jnp.asarray(x) if eqx.is_array(x) else x, tree
        ),
        put_batch=lambda batch: batch,
        get_state=to_host,
        get_metrics=to_host,
        examples=_leading,
        kind="jit",
    )
