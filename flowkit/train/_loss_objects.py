"""The losses ``fit`` trains with, as objects: :class:`NLL` and :class:`BitsPerDim`.

A loss object is called like every training loss, ``loss(model, x, condition, keys) ->
dict`` of per-example arrays (one named ``"loss"``), so it goes straight into
:func:`flowkit.train.make_step`; it also says what its data must look like
(:meth:`AbstractLoss.check_data`), how validation scores a flow
(:meth:`AbstractLoss.validation_scores`) and what the model sees of a batch
(:meth:`AbstractLoss.inputs`). Another objective (flow matching, say) is another final
subclass of :class:`AbstractLoss`.
"""

import abc
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, Float
from ..flows._image_data import bits_per_dim
from ._evaluate import model_dtype, scores
from ._losses import dequantize_pixels


def _add_noise(keys: Array, x: Array, noise_std: float) -> Array:
    """``x + noise_std * N(0, 1)``, example ``i`` drawing from ``fold_in(keys[i], 1)``."""
    if noise_std == 0:
        return x

    def one(k, xi):
        return xi + noise_std * jax.random.normal(jax.random.fold_in(k, 1), xi.shape, xi.dtype)

    return jax.vmap(one)(keys, x)


def _check_noise(owner: str, noise_std: float) -> None:
    if not noise_std >= 0:
        raise ValueError(f"{owner}: noise_std must be >= 0; got {noise_std}.")


class AbstractLoss(eqx.Module):
    """A training objective for :func:`flowkit.fit` and the training steps.

    Subclasses give ``metric`` (the name of what validation reports) and the methods below.
    """

    metric: eqx.AbstractClassVar[str]

    @abc.abstractmethod
    def inputs(self, keys: Array, x: Array | np.ndarray) -> Float[Array, "n ..."]:
        """The batch as the model sees it in training.

        Args:
            keys: one PRNG key per example, shape ``(n,)``; example ``i`` draws any noise
                from ``keys[i]``.
            x: the batch, shape ``(n, *event)``.

        Returns:
            The model's inputs, shape ``(n, *event)`` (floating point).
        """

    @abc.abstractmethod
    def __call__(
        self, model, x: Array | np.ndarray, condition: Array | np.ndarray | None, keys: Array
    ) -> dict[str, Array]:
        """Per-example losses.

        Args:
            model: the flow being trained.
            x: the batch, shape ``(n, *event)``.
            condition: per-example conditions, shape ``(n, *cond_shape)``, or None.
            keys: one PRNG key per example, shape ``(n,)``.

        Returns:
            Arrays of shape ``(n,)``, ``"loss"`` (the objective) among them.
        """

    @abc.abstractmethod
    def check_data(self, x: np.ndarray) -> None:
        """Check that this loss can train on ``x``.

        Args:
            x: the training data, shape ``(N, *event)``.

        Raises:
            ValueError: the data do not fit the loss (one line, e.g. integer pixels
                outside ``0..num_levels-1``).
        """

    @abc.abstractmethod
    def validation_scores(self, model, x: np.ndarray, condition: np.ndarray | None) -> np.ndarray:
        """Per-example validation scores, with fixed noise so that epochs compare.

        Args:
            model: the flow to score.
            x: the validation data, shape ``(N, *event)``.
            condition: per-example conditions, shape ``(N, *cond_shape)``, or None.

        Returns:
            The scores, shape ``(N,)`` (lower is better).
        """


class NLL(AbstractLoss):
    """Negative log-likelihood in nats, ``-log p(x)``, of data taken as they are.

    Args:
        noise_std: train on ``x + noise_std * N(0, 1)`` (fresh noise every step; TarFlow's
            recipe); validation scores the clean data.

    Raises:
        ValueError: ``noise_std`` below 0.
    """

    noise_std: float = eqx.field(default=0.0, static=True)
    metric: ClassVar[str] = "nll"

    def __check_init__(self):
        _check_noise("NLL", self.noise_std)

    def inputs(self, keys: Array, x: Array | np.ndarray) -> Float[Array, "n ..."]:
        return _add_noise(keys, jnp.asarray(x), self.noise_std)

    def __call__(
        self, model, x: Array | np.ndarray, condition: Array | np.ndarray | None, keys: Array
    ) -> dict[str, Array]:
        nll = -model.log_prob(self.inputs(keys, x).astype(model_dtype(model)), condition)
        return {"loss": nll, "nll": nll}

    def check_data(self, x: np.ndarray) -> None:
        del x  # any real-valued data (integers are cast to the flow's dtype)

    def validation_scores(self, model, x: np.ndarray, condition: np.ndarray | None) -> np.ndarray:
        values, _ = scores(model, x, condition=condition, image=False)
        return values[0]


class BitsPerDim(AbstractLoss):
    """Bits per dimension of pixels with ``num_levels`` values.

    Integer pixels (``0..num_levels-1``) are dequantized into [0, 1) with fresh uniform noise
    every step; float data are taken as pixels already dequantized into [0, 1).
    ``bpd = (nll + D log num_levels) / (D log 2)``.

    Args:
        num_levels: the number of pixel values (256 for 8-bit images).
        noise_std: add ``noise_std * N(0, 1)`` to the dequantized pixels in training
            (TarFlow's recipe); validation scores the clean pixels.

    Raises:
        ValueError: ``num_levels`` below 2 or ``noise_std`` below 0.
    """

    num_levels: int = eqx.field(default=256, static=True)
    noise_std: float = eqx.field(default=0.0, static=True)
    metric: ClassVar[str] = "bits/dim"

    def __check_init__(self):
        if self.num_levels < 2:
            raise ValueError(f"BitsPerDim: num_levels must be >= 2; got {self.num_levels}.")
        _check_noise("BitsPerDim", self.noise_std)

    def inputs(self, keys: Array, x: Array | np.ndarray) -> Float[Array, "n ..."]:
        return _add_noise(keys, dequantize_pixels(keys, x, self.num_levels), self.noise_std)

    def __call__(
        self, model, x: Array | np.ndarray, condition: Array | np.ndarray | None, keys: Array
    ) -> dict[str, Array]:
        nll = -model.log_prob(self.inputs(keys, x).astype(model_dtype(model)), condition)
        bpd = bits_per_dim(-nll, math.prod(x.shape[1:]), num_levels=self.num_levels)
        return {"loss": bpd, "nll": nll, "bpd": bpd}

    def check_data(self, x: np.ndarray) -> None:
        if not np.issubdtype(x.dtype, np.integer) or x.size == 0:
            return
        low, high = int(x.min()), int(x.max())
        if low < 0 or high >= self.num_levels:
            raise ValueError(
                f"fit: integer data are read as pixels in 0..{self.num_levels - 1} "
                f"(BitsPerDim(num_levels={self.num_levels})), but these range over "
                f"[{low}, {high}]; pass loss=flowkit.train.NLL() to fit integer-valued vector "
                "data as numbers, or BitsPerDim(num_levels=...) for other pixels."
            )

    def validation_scores(self, model, x: np.ndarray, condition: np.ndarray | None) -> np.ndarray:
        values, _ = scores(model, x, condition=condition, image=True, num_levels=self.num_levels)
        return values[0]


DEFAULT_LOSS = NLL()  # the training steps' default: NLL of data taken as they are
