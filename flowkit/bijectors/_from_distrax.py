"""A distrax bijector used inside flowkit (distrax is not imported: the caller built one)."""

from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Shape
from ._base import AbstractBijector

if TYPE_CHECKING:
    import distrax


def _frozen(bijector):
    """``bijector`` held as (array leaves, static structure); imported late because
    ``flowkit.flows`` imports the bijectors."""
    from ..flows._frozen_base import FrozenBase

    # Strong dtypes: a weakly typed jnp.array(0.3) would compile once more after an update.
    strong = lambda a: jnp.asarray(a, a.dtype) if eqx.is_inexact_array(a) else a  # noqa: E731
    return FrozenBase(jax.tree_util.tree_map(strong, bijector))


class FromDistrax(AbstractBijector):
    """Use a distrax bijector inside flowkit (e.g. in a :class:`Chain`) on events of ``shape``.

    distrax's log-determinant is summed over any entries it leaves unreduced (an
    elementwise distrax bijector reports one term per entry).

    The distrax bijector's parameters are **frozen**: they are held out of gradients and of
    :func:`flowkit.flows.trainable_filter`, so ``fit`` trains the rest of the model around them.
    The reason: distrax bijectors cache values derived from their parameters (``ScalarAffine``
    keeps ``scale``, ``1/scale`` and ``log|scale|`` as three arrays), so an optimiser moving
    each array on its own would make the forward and inverse maps disagree. For trainable
    parameters use the flowkit bijector (``Affine`` for ``ScalarAffine``, ``Tanh``, ...).

    They are stored as plain array leaves with the distrax structure kept static (as a
    flow's base), because distrax's own flattening changes shape when ``eqx.filter`` or
    ``eqx.partition`` replace arrays by ``None``; so ``eqx.filter``, ``jax.tree.map``,
    :func:`flowkit.testing.check_bijector`, ``fit``, ``save`` and ``load`` all work.

    Args:
        bijector: a ``distrax.Bijector`` acting on events of at most ``len(shape)`` dimensions
            (``distrax.Block`` makes an elementwise one act on vectors).
        shape: the event shape, e.g. ``(4,)``.

    Raises:
        TypeError: ``bijector`` is not a distrax bijector.
        ValueError: its events have more dimensions than ``shape``.
    """

    # A FrozenBase (flowkit.flows), annotated loosely: it is imported late (see _frozen).
    frozen: eqx.Module
    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True, default=None)

    def __init__(self, bijector: "distrax.Bijector", shape: Shape):
        if not (hasattr(bijector, "forward_and_log_det") and hasattr(bijector, "event_ndims_in")):
            raise TypeError(
                f"FromDistrax: expected a distrax.Bijector; got {type(bijector).__name__}. "
                "Wrap a flowkit bijector directly, or build the distrax one first."
            )
        self.frozen = _frozen(bijector)
        self.shape = tuple(shape)

    def __check_init__(self):
        if self.bijector.event_ndims_in > len(self.shape):
            raise ValueError(
                f"FromDistrax: the distrax bijector acts on {self.bijector.event_ndims_in}-D "
                f"events but shape {self.shape} has only {len(self.shape)} dimensions."
            )

    @property
    def bijector(self) -> "distrax.Bijector":
        """The distrax bijector, rebuilt with its parameters held out of gradients."""
        return self.frozen.distribution  # pyright: ignore[reportAttributeAccessIssue]

    def forward_and_log_det(self, x, condition):
        y, log_det = self.bijector.forward_and_log_det(x)
        return y, jnp.sum(log_det)

    def inverse_and_log_det(self, y, condition):
        x, log_det = self.bijector.inverse_and_log_det(y)
        return x, jnp.sum(log_det)
