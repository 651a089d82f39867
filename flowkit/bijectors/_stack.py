"""N identical layers stored as one stacked module and run with ``jax.lax.scan``.

Compile time stays flat in depth: the layer body is traced once, whatever the count.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

from .._typing import PRNGKeyArray, Shape
from ..nn._conv import Conv2d
from ._base import AbstractBijector
from ._composite import AbstractComposite, Scan


def _check_unroll(unroll) -> None:
    if unroll == "auto" or isinstance(unroll, bool) or (isinstance(unroll, int) and unroll >= 1):
        return
    raise ValueError(
        "Stack: unroll must be a positive int (layers per loop iteration), True (no loop) or "
        f'"auto"; got {unroll!r}.'
    )


AUTO_UNROLL_MAX = 8
"""Conv stacks up to this many layers are unrolled on CPU by ``unroll="auto"``; deeper ones
scan, so compile time stops growing with depth (see :func:`resolve_unroll`)."""


def resolve_unroll(
    unroll: int | bool | str,
    layers: AbstractBijector,
    num_layers: int,
    backend: str | None = None,
) -> int | bool:
    """What ``unroll="auto"`` means for ``num_layers`` stacked ``layers`` on ``backend``
    (default: JAX's default backend): ``True`` (no loop) on CPU for at most
    :data:`AUTO_UNROLL_MAX` layers holding a :class:`flowkit.nn.Conv2d`, else ``1`` (a plain
    scan, whose compile time is flat in depth). Other values are returned as given.

    Measured on a 2-core CPU (Glow on 28x28x1, width 64, batch 64, benchmarks/image_train.py
    and docs/scan_conv_cpu.md): unrolled, 8 steps per scale train 1.39x faster than scanned
    and compile in 11.6 s against 7.4 s; at 16 steps the unrolled step is 1.02-1.28x faster
    but compiles in 26-27 s against 9-12 s. Partial unrolls (2, 4) were no faster than the
    scan."""
    if unroll != "auto":
        return unroll  # type: ignore[return-value]
    backend = backend or jax.default_backend()
    is_conv = lambda node: isinstance(node, Conv2d)  # noqa: E731
    has_conv = any(is_conv(leaf) for leaf in jax.tree_util.tree_leaves(layers, is_leaf=is_conv))
    return True if backend == "cpu" and has_conv and num_layers <= AUTO_UNROLL_MAX else 1


def _check_stacked(layers: AbstractBijector, num_layers: int) -> None:
    """Raise unless every array leaf of ``layers`` has a leading axis of ``num_layers``."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(eqx.filter(layers, eqx.is_array)):
        if leaf.ndim == 0 or leaf.shape[0] != num_layers:
            raise ValueError(
                f"Stack: expected stacked layers, every array leaf with a leading axis of "
                f"num_layers={num_layers}; {type(layers).__name__}"
                f"{jax.tree_util.keystr(path)} has shape {leaf.shape}. Build them with "
                "Stack.from_factory(key, make_layer, num_layers), or use Chain for a list of "
                "ordinary layers."
            )


class Stack(AbstractComposite):
    """``num_layers`` copies of one layer structure with their own parameters, applied in order.

    Build with :meth:`Stack.from_factory`, which calls ``make_layer(key)`` under
    ``eqx.filter_vmap`` so each array leaf gains a leading layer axis. Forward runs layer 0
    first; the inverse scans in reverse. Layers must preserve the event shape. ``unroll``
    is ``jax.lax.scan``'s: layers per loop iteration (``True``: all, no loop), trading
    compile time for speed.

    ``unroll="auto"`` (the default) is resolved when traced (:func:`resolve_unroll`): ``True``
    on CPU for up to 8 layers holding a :class:`flowkit.nn.Conv2d` (XLA:CPU runs them
    faster unrolled), else ``1``. Dense layers, deeper conv stacks and other backends scan,
    whose compile time is flat in depth.

    Args:
        layers: one shape-preserving bijector whose every array leaf has a leading axis of
            length ``num_layers`` (layer ``i`` is slice ``i``).
        num_layers: how many layers ``layers`` stacks, ``>= 1``.
        unroll: layers per loop iteration (a positive int), ``True`` (no loop) or
            ``"auto"``.

    Raises:
        TypeError: if ``layers`` is not a flowkit bijector or ``num_layers`` is missing.
        ValueError: if ``num_layers < 1``, the layers change the event shape, a leaf lacks
            the leading layer axis, or ``unroll`` is none of the above.
    """

    layers: AbstractBijector  # every array leaf has a leading axis of length num_layers
    num_layers: int = eqx.field(static=True)
    unroll: int | bool | str = eqx.field(static=True)
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(
        self,
        layers: AbstractBijector,
        num_layers: int | None = None,
        *,
        unroll: int | bool | str = "auto",
    ):
        if not isinstance(layers, AbstractBijector):
            raise TypeError(f"Stack: expected a flowkit bijector; got {type(layers).__name__}.")
        if num_layers is None:
            raise TypeError(
                f"Stack(layers, num_layers) takes layers already stacked along a leading axis "
                f"and their count; to repeat one {type(layers).__name__} with fresh "
                "parameters use Stack.from_factory(key, make_layer, num_layers), or Chain "
                "for a list of ordinary layers."
            )
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"Stack needs num_layers >= 1; got {num_layers!r}.")
        if tuple(layers.out_shape) != tuple(layers.shape):
            raise ValueError(
                f"Stack needs shape-preserving layers; {type(layers).__name__} maps "
                f"{tuple(layers.shape)} to {tuple(layers.out_shape)}. Use Chain instead."
            )
        _check_unroll(unroll)
        _check_stacked(layers, num_layers)
        self.layers = layers
        self.num_layers = num_layers
        self.unroll = unroll
        self.shape = tuple(layers.shape)
        self.cond_shape = layers.cond_shape

    @classmethod
    def from_factory(
        cls,
        key: PRNGKeyArray,
        make_layer: Callable[[PRNGKeyArray], AbstractBijector],
        num_layers: int,
        *,
        unroll: int | bool | str = "auto",
    ) -> "Stack":
        """Stack ``num_layers`` layers built by ``make_layer(key)`` with independent keys.

        Args:
            key: split into one key per layer.
            make_layer: builds one shape-preserving layer from a key; traced under
                ``eqx.filter_vmap``, so it must build the same structure for every key.
            num_layers: how many layers, ``>= 1``.
            unroll: as in :class:`Stack`.

        Returns:
            A Stack of the ``num_layers`` layers, layer 0 applied first.

        Raises:
            ValueError: if ``num_layers < 1`` or ``unroll`` is invalid.
        """
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"Stack needs num_layers >= 1; got {num_layers!r}.")
        keys = jax.random.split(key, num_layers)
        return cls(eqx.filter_vmap(make_layer)(keys), num_layers, unroll=unroll)

    def layer(self, i: int) -> AbstractBijector:
        """Layer ``i`` as an ordinary (unstacked) bijector.

        Args:
            i: the layer's index, ``0 <= i < num_layers``.

        Returns:
            The bijector of layer ``i``, its array leaves without the layer axis.
        """
        params, static = eqx.partition(self.layers, eqx.is_array)
        return eqx.combine(jax.tree_util.tree_map(lambda a: a[i], params), static)

    def pieces(self):
        return (
            Scan(
                lambda s: s.layers,
                self.num_layers,
                resolve_unroll(self.unroll, self.layers, self.num_layers),
            ),
        )


def with_unroll(model: Any, unroll: int | bool | str) -> Any:
    """``model`` with every :class:`Stack` in it, nested ones too, set to ``unroll``.

    Parameters and maps are unchanged, only how the layers are looped over when traced.

    Args:
        model: a bijector, a flow or any pytree holding Stacks.
        unroll: a positive int (layers per loop iteration), ``True`` (no loop) or ``"auto"``,
            as in :class:`Stack`.

    Returns:
        A pytree of the same structure as ``model``.

    Raises:
        ValueError: if ``unroll`` is none of the above.
    """
    _check_unroll(unroll)
    is_stack = lambda node: isinstance(node, Stack)  # noqa: E731

    def reset(node):
        if not is_stack(node):
            return node
        return Stack(with_unroll(node.layers, unroll), node.num_layers, unroll=unroll)

    return jax.tree_util.tree_map(reset, model, is_leaf=is_stack)
