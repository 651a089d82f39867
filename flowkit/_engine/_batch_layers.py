"""Functional updates of batch-aware layers: ActNorm data init and BatchNorm statistics.

Models are immutable: each function returns a new model (or State). A :class:`Flow` is
walked in its density direction (data to latent, the bijector's inverse); a bijector given
on its own is walked forward.
"""

from typing import TypeVar, cast

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array, ArrayLike, Float
from ..bijectors._base import AbstractBijector
from ..bijectors._batch_norm import BatchNorm
from ..flows._flow import Flow
from ._batch_pass import PassContext, batch_pass

Model = TypeVar("Model", Flow, AbstractBijector)


def _run(owner: str, model, batch, condition, ctx: PassContext):
    """Walk ``model`` with the batch; return the walked model (same type as given)."""
    if isinstance(model, Flow):
        bijector, inverse = model.bijector, True
    elif isinstance(model, AbstractBijector):
        bijector, inverse = model, False
    else:
        raise TypeError(f"{owner}: expected a Flow or a bijector; got {type(model).__name__}.")
    batch = jnp.asarray(batch)
    event = tuple(bijector.out_shape if inverse else bijector.shape)
    if batch.ndim != len(event) + 1 or tuple(batch.shape[1:]) != event:
        raise ValueError(
            f"{owner}: expected a batch of shape (N, {', '.join(map(str, event))}); got shape "
            f"{batch.shape}. Flatten extra batch axes first."
        )
    if bijector.cond_shape is not None:
        if condition is None:
            raise ValueError(f"{owner}: the model is conditional; pass condition=.")
        condition = jnp.asarray(condition)
        if condition.shape == tuple(bijector.cond_shape):
            condition = jnp.broadcast_to(condition, batch.shape[:1] + condition.shape)
    new, _, _ = batch_pass(bijector, batch, condition, inverse, ctx, ())
    return eqx.tree_at(lambda f: f.bijector, model, new) if isinstance(model, Flow) else new


def data_init(
    model: Model, batch: Float[Array, "N ..."], condition: ArrayLike | None = None
) -> Model:
    """A copy of ``model`` whose ActNorm layers are initialised on ``batch``.

    Each ActNorm maps its own input (the batch as it arrives there) to zero mean and unit
    variance per channel. Layers are visited in data order through any nesting, including
    the layers of a ``Stack`` one by one. Compiled once per model structure and batch shape
    (``eqx.filter_jit``).

    Args:
        model: a Flow (walked data to latent) or a bijector (walked forward).
        batch: examples, shape ``(N, *event)`` with ``event`` the flow's ``shape`` (the
            bijector's ``shape`` for a bijector).
        condition: for a conditional model, one condition of shape ``cond_shape`` shared
            by all examples or one per example, shape ``(N, *cond_shape)``; else None.

    Returns:
        A model of the same type and structure with initialised ActNorm layers.

    Raises:
        TypeError: ``model`` is neither a Flow nor a bijector.
        ValueError: ``batch`` is not ``(N, *event)``, or a conditional model got no
            ``condition``.
    """
    return cast(Model, _data_init(model, batch, condition))


@eqx.filter_jit
def _data_init(model, batch, condition):
    return _run("data_init", model, batch, condition, PassContext(init_actnorm=True))


def update_batch_norm_state(
    model: Flow | AbstractBijector,
    state: eqx.nn.State,
    batch: Float[Array, "N ..."],
    condition: ArrayLike | None = None,
) -> eqx.nn.State:
    """Advance the running statistics in ``state`` of every training-mode BatchNorm.

    Each BatchNorm's statistics move towards those of its input on ``batch`` (an
    exponential moving average with the layer's ``momentum``). Costs one forward pass; jit
    it with the training step.

    Args:
        model: a Flow (walked data to latent) or a bijector (walked forward).
        state: the BatchNorm statistics, e.g. ``eqx.nn.State(model)``.
        batch: examples, shape ``(N, *event)`` as in :func:`data_init`.
        condition: None, or one condition ``cond_shape`` or ``(N, *cond_shape)`` for a
            conditional model.

    Returns:
        The advanced ``State`` (``model`` is unchanged).

    Raises:
        TypeError: ``model`` is neither a Flow nor a bijector.
        ValueError: ``batch`` is not ``(N, *event)``, or a conditional model got no
            ``condition``.
    """
    ctx = PassContext(state=state)
    _run("update_batch_norm_state", model, batch, condition, ctx)
    assert ctx.state is not None
    return ctx.state


def _bind_statistics(model, state: eqx.nn.State | None, inference: bool | None):
    """``model`` with each BatchNorm holding its statistics from ``state`` (when given) and
    switched to ``inference`` mode (when not None)."""
    is_bn = lambda node: isinstance(node, BatchNorm)  # noqa: E731

    def convert(node):
        if not is_bn(node):
            return node
        if state is not None:
            index = eqx.nn.StateIndex(state.get(node.state_index))
            object.__setattr__(index, "marker", node.state_index.marker)  # same State key
            node = eqx.tree_at(lambda b: b.state_index, node, index)
        if inference is not None:
            node = eqx.tree_at(lambda b: b.inference, node, inference)
        return node

    return jax.tree_util.tree_map(convert, model, is_leaf=is_bn)


def batch_norm_inference(model, state: eqx.nn.State | None = None):
    """``model`` with every BatchNorm in inference mode (for evaluation and sampling).

    Args:
        model: any pytree holding BatchNorm layers (a Flow or a bijector).
        state: the statistics to use, from :func:`update_batch_norm_state`; None keeps the
            statistics the layers already hold.

    Returns:
        A copy of ``model`` of the same structure, its BatchNorms in inference mode.
    """
    return _bind_statistics(model, state, inference=True)


def has_batch_norm(model) -> bool:
    """Whether ``model`` holds a BatchNorm in training mode (its statistics move in training)."""
    is_bn = lambda node: isinstance(node, BatchNorm)  # noqa: E731
    leaves = jax.tree_util.tree_leaves(model, is_leaf=is_bn)
    return any(is_bn(leaf) and not leaf.inference for leaf in leaves)


def advance_batch_norm(
    model: Model, batch: Float[Array, "N ..."], condition: ArrayLike | None = None
) -> Model:
    """``model`` with its training-mode BatchNorms' running statistics advanced by one batch.

    As :func:`update_batch_norm_state`, with the statistics kept in the model rather than a
    separate State. Pass it as ``after_update`` to a training step, as :func:`flowkit.fit`
    does; evaluate and sample with :func:`batch_norm_inference`.

    Args:
        model: a Flow (walked data to latent) or a bijector (walked forward).
        batch: examples, shape ``(N, *event)`` as in :func:`data_init`.
        condition: None, or one condition ``cond_shape`` or ``(N, *cond_shape)`` for a
            conditional model.

    Returns:
        A model of the same type and structure with advanced statistics.

    Raises:
        TypeError: ``model`` is neither a Flow nor a bijector.
        ValueError: ``batch`` is not ``(N, *event)``, or a conditional model got no
            ``condition``.
    """
    state = update_batch_norm_state(model, eqx.nn.State(model), batch, condition)
    return cast(Model, _bind_statistics(model, state, inference=None))
