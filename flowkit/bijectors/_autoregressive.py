"""Masked autoregressive (MAF) and inverse autoregressive (IAF) layers.

A MAF applies an elementwise transformer to each dimension with parameters from a MADE. The
direction in which the MADE sees its own input takes one pass; the other direction solves
for the input one dimension at a time, D steps of a ``lax.fori_loop`` (traced once, so
compile time does not grow with D).

Flow convention: ``forward`` maps base samples z to data x. So a MAF has its one-pass
direction in ``inverse`` (density evaluation); an IAF, the MAF inverted, in ``forward``
(sampling).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, Shape
from ..nn._made import MADE
from ._base import AbstractBijector
from ._composite import AbstractComposite, Child
from ._transformers import AbstractTransformer


def _check_parts(owner: str, made: MADE, transformer: AbstractTransformer, cond_shape):
    if made.num_params != transformer.num_params:
        raise ValueError(
            f"{owner}: the MADE gives {made.num_params} parameters per dimension but the "
            f"{type(transformer).__name__} needs {transformer.num_params}; build the MADE with "
            "num_params=transformer.num_params."
        )
    size = None if cond_shape is None else int(np.prod(cond_shape))
    if size != made.cond_size:
        raise ValueError(
            f"{owner}: cond_shape {cond_shape} has {size} entries but the MADE was built with "
            f"cond_size={made.cond_size}; they must match (None for unconditional)."
        )


class MaskedAutoregressive(AbstractBijector):
    """MAF layer (Papamakarios et al. 2017): ``x_i = T(z_i; made(x)_i)``.

    The inverse (data -> base, density evaluation) is one pass:
    ``z = T^-1(x; made(x))``. The forward (sampling) takes D sequential steps.
    ``transformer`` is any elementwise family: affine, softplus-affine, spline.

    Args:
        made: the masked autoencoder; its ``in_size`` ``D`` gives the event shape ``(D,)``
            and it outputs ``transformer.num_params`` parameters per dimension.
        transformer: the elementwise map each dimension goes through.
        cond_shape: the condition's shape, or None: then ``(made.cond_size,)`` when the MADE
            is conditional, else unconditional.

    Raises:
        ValueError: if the MADE's parameter count differs from ``transformer.num_params``
            or ``cond_shape``'s size differs from ``made.cond_size``.
    """

    # One direction takes D sequential passes (sampling), too dear to rebuild inputs with:
    # invertible backprop stores this layer's input.
    exact_inverse = False

    made: MADE
    transformer: AbstractTransformer
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(
        self, made: MADE, transformer: AbstractTransformer, cond_shape: Shape | None = None
    ):
        if cond_shape is None and made.cond_size is not None:
            cond_shape = (made.cond_size,)
        _check_parts("MaskedAutoregressive", made, transformer, cond_shape)
        self.made = made
        self.transformer = transformer
        self.shape = (made.in_size,)
        self.cond_shape = None if cond_shape is None else tuple(cond_shape)

    def _params(self, u: Array, condition: Array | None) -> Array:
        cond = None if condition is None else condition.reshape(-1)
        return self.made(u, cond)

    def _direct(self, u: Array, condition: Array | None, method: str):
        """``transformer.method(u; made(u))``: parameters from the input, one pass."""
        out, log_deriv = getattr(self.transformer, method)(u, self._params(u, condition))
        return out, jnp.sum(log_deriv)

    def _recursive(self, v: Array, condition: Array | None, method: str):
        """Solve ``w = transformer.method(v; made(w))`` for ``w``, one dimension per step.

        Step k fixes the dimension of rank k, whose parameters depend only on dimensions of
        lower rank, already exact. Dimensions not yet reached stay at 0, so the MADE never
        sees half-computed values (which could grow without bound over many steps).
        """
        ranks = self.made.ranks

        def step(k, carry):
            w, log_deriv = carry
            new_w, new_ld = getattr(self.transformer, method)(v, self._params(w, condition))
            now = ranks == k
            return jnp.where(now, new_w, w), jnp.where(now, new_ld, log_deriv)

        init = (jnp.zeros_like(v), jnp.zeros_like(v))
        w, log_deriv = jax.lax.fori_loop(0, v.shape[0], step, init)
        return w, jnp.sum(log_deriv)

    def forward_and_log_det(self, x, condition):
        return self._recursive(x, condition, "forward_and_log_det")

    def inverse_and_log_det(self, y, condition):
        return self._direct(y, condition, "inverse_and_log_det")


class InverseAutoregressive(AbstractComposite):
    """IAF layer (Kingma et al. 2016): the inverse of a :class:`MaskedAutoregressive`,
    ``x_i = T^-1(z_i; made(z)_i)``.

    The forward (sampling, and ``Flow.sample_and_log_prob``) is MAF's one-pass direction;
    the inverse (density of given data) its D sequential steps. The choice for variational
    inference. It holds the :class:`MaskedAutoregressive` it inverts as ``maf``.

    Args:
        made: the masked autoencoder; its ``in_size`` ``D`` gives the event shape ``(D,)``
            and it outputs ``transformer.num_params`` parameters per dimension.
        transformer: the elementwise map each dimension goes through.
        cond_shape: the condition's shape, or None: then ``(made.cond_size,)`` when the MADE
            is conditional, else unconditional.

    Raises:
        ValueError: if the MADE's parameter count differs from ``transformer.num_params``
            or ``cond_shape``'s size differs from ``made.cond_size``.
    """

    maf: MaskedAutoregressive

    def __init__(
        self, made: MADE, transformer: AbstractTransformer, cond_shape: Shape | None = None
    ):
        self.maf = MaskedAutoregressive(made, transformer, cond_shape)

    @property
    def made(self) -> MADE:
        return self.maf.made

    @property
    def transformer(self) -> AbstractTransformer:
        return self.maf.transformer

    @property
    def shape(self) -> Shape:
        return self.maf.shape

    @property
    def cond_shape(self) -> Shape | None:
        return self.maf.cond_shape

    def pieces(self):
        return (Child(lambda m: m.maf, inverted=True),)
