"""N identical layers stored as one stacked module and run with ``jax.lax.scan``.

Compile time stays flat in depth: the layer body is traced once, whatever the count.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array, PRNGKeyArray, Shape
from ._base import AbstractBijector
from ._chain import call_layer


class Stack(AbstractBijector):
    """``num_layers`` copies of one layer structure with their own parameters, applied in order.

    Build with :meth:`Stack.from_factory`, which calls ``make_layer(key)`` under
    ``eqx.filter_vmap`` so each array leaf gains a leading layer axis. Forward runs layer 0
    first; the inverse scans in reverse. Layers must preserve the event shape.
    """

    layers: AbstractBijector  # every array leaf has a leading axis of length num_layers
    num_layers: int = eqx.field(static=True)
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(self, layers: AbstractBijector, num_layers: int):
        if tuple(getattr(layers, "out_shape", layers.shape)) != tuple(layers.shape):
            raise ValueError("Stack needs shape-preserving layers; use Chain otherwise.")
        self.layers = layers
        self.num_layers = num_layers
        self.shape = tuple(layers.shape)
        self.cond_shape = layers.cond_shape

    @classmethod
    def from_factory(
        cls,
        make_layer: Callable[[PRNGKeyArray], AbstractBijector],
        key: PRNGKeyArray,
        num_layers: int,
    ) -> "Stack":
        """Stack ``num_layers`` layers built by ``make_layer(key)`` with independent keys."""
        if num_layers < 1:
            raise ValueError(f"Stack needs num_layers >= 1; got {num_layers}.")
        keys = jax.random.split(key, num_layers)
        return cls(eqx.filter_vmap(make_layer)(keys), num_layers)

    def layer(self, i: int) -> AbstractBijector:
        """Layer ``i`` as an ordinary (unstacked) bijector."""
        params, static = eqx.partition(self.layers, eqx.is_array)
        return eqx.combine(jax.tree_util.tree_map(lambda a: a[i], params), static)

    def _scan(self, method: str, x: Array, condition: Array | None, reverse: bool):
        params, static = eqx.partition(self.layers, eqx.is_array)

        def step(carry, layer_params):
            z, log_det = carry
            layer = eqx.combine(layer_params, static)
            z, ld = call_layer(layer, method, z, condition)
            return (z, log_det + ld), None

        init = (x, jnp.zeros((), x.dtype))
        (z, log_det), _ = jax.lax.scan(step, init, params, reverse=reverse)
        return z, log_det

    def _forward_and_log_det(self, x, condition):
        return self._scan("forward_and_log_det", x, condition, reverse=False)

    def _inverse_and_log_det(self, y, condition):
        return self._scan("inverse_and_log_det", y, condition, reverse=True)
