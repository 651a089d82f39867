"""A distrax bijector used inside flowkit (distrax is not imported: the caller built one)."""

from typing import TYPE_CHECKING

import equinox as eqx
import jax.numpy as jnp

from .._typing import Shape
from ._base import AbstractBijector

if TYPE_CHECKING:
    import distrax


class FromDistrax(AbstractBijector):
    """Use a distrax bijector inside flowkit (e.g. in a :class:`Chain`) on events of ``shape``.

    distrax's log-determinant is summed over any entries it leaves unreduced (an
    elementwise distrax bijector reports one term per entry).
    """

    # Quoted: distrax (and TensorFlow Probability under it) is imported only for type checking,
    # so that ``import flowkit`` stays fast.
    bijector: "distrax.Bijector"
    shape: Shape = eqx.field(static=True)
    cond_shape: None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.bijector.event_ndims_in > len(self.shape):
            raise ValueError(
                f"FromDistrax: the distrax bijector acts on {self.bijector.event_ndims_in}-D "
                f"events but shape {self.shape} has only {len(self.shape)} dimensions."
            )

    def forward_and_log_det(self, x, condition):
        y, log_det = self.bijector.forward_and_log_det(x)
        return y, jnp.sum(log_det)

    def inverse_and_log_det(self, y, condition):
        x, log_det = self.bijector.inverse_and_log_det(y)
        return x, jnp.sum(log_det)
