"""Holding a distrax distribution inside an Equinox module, frozen.

distrax distributions are pytrees whose flatten/unflatten does not survive Equinox's
filtering (``eqx.partition`` puts booleans or None where arrays were, and distrax rebuilds
a different structure). ``FrozenBase`` keeps the distribution's array leaves as ordinary
module fields and its tree structure as a static field, so a ``Flow`` can be partitioned,
vmapped and saved like any module. The leaves are excluded from training by
:func:`trainable_filter` and held out of gradients by ``stop_gradient``.
"""

from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax

from .._typing import Array, PyTree

if TYPE_CHECKING:  # distrax is slow to import; only the caller's distribution needs it
    import distrax


class FrozenBase(eqx.Module):
    """A distrax distribution stored as (array leaves, static tree structure).

    Args:
        distribution: any distrax distribution.
    """

    leaves: tuple[Array, ...]
    # A jax PyTreeDef (jax.tree_util exports it as a variable, which type checkers reject in
    # annotations).
    treedef: Any = eqx.field(static=True)

    def __init__(self, distribution: "distrax.Distribution"):
        leaves, self.treedef = jax.tree_util.tree_flatten(distribution)
        self.leaves = tuple(leaves)

    @property
    def distribution(self) -> "distrax.Distribution":
        """The distribution, rebuilt with its leaves held out of gradients."""
        leaves = [jax.lax.stop_gradient(leaf) for leaf in self.leaves]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


def trainable_filter(model: PyTree) -> PyTree:
    """A filter spec (pytree of bools) selecting the trainable leaves of ``model``.

    Every floating-point array is trainable except those of a frozen base distribution and
    the running statistics a layer holds in an ``eqx.nn.StateIndex`` (batch norm); integer
    arrays (permutations) and static fields never are. Use it with
    ``eqx.partition(model, trainable_filter(model))``.

    Args:
        model: a flow, bijector or any Equinox model.

    Returns:
        A pytree of ``model``'s structure with a bool per leaf.
    """

    def spec(leaf):
        if isinstance(leaf, FrozenBase | eqx.nn.StateIndex):
            return jax.tree_util.tree_map(lambda _: False, leaf)
        return eqx.is_inexact_array(leaf)

    return jax.tree_util.tree_map(
        spec, model, is_leaf=lambda x: isinstance(x, FrozenBase | eqx.nn.StateIndex)
    )
