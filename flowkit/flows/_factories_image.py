"""Factories for multi-scale image flows: RealNVP and Glow (key first, sizes by keyword).

Images are ``(H, W, C)``, channels last, one per call (``Flow`` batches). The models are
written in the density direction (image to latent) as in the papers, so each factory
returns ``Flow(Invert(model), standard_normal(image_shape))``. Data are in [0, 1]
(:func:`flowkit.dequantize`); the map to the space the model trains in is a bijector inside
the flow, first in the model, so every score is of the data in [0, 1]: ``logit_alpha`` puts
a :class:`LogitPreprocess` there, ``rescale=(low, high)`` a :class:`Rescale`.
"""

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import PRNGKeyArray, PyTree, Shape
from ..bijectors._actnorm import ActNorm
from ..bijectors._base import AbstractBijector
from ..bijectors._batch_norm import BatchNorm
from ..bijectors._chain import Chain
from ..bijectors._conv1x1 import InvertibleConv1x1, InvertibleConv1x1LU
from ..bijectors._conv_coupling import conv_affine_coupling
from ..bijectors._elementwise import Affine, Rescale
from ..bijectors._invert import Invert
from ..bijectors._logit_preprocess import LogitPreprocess
from ..bijectors._masks import channel_mask, checkerboard_mask
from ..bijectors._multiscale import MultiScale
from ..bijectors._split_prior import split_prior as split_prior_layer
from ..bijectors._squeeze import Squeeze, image_shape_error
from ..bijectors._stack import Stack
from ._bases import standard_normal
from ._factory_args import TransformerSpec, as_cond_shape, check_transformer, make_transformer
from ._flow import Flow
from ._frozen_base import trainable_filter


def _halvings(n: int) -> int:
    """How many times ``n`` can be halved exactly."""
    count = 0
    while n > 0 and n % 2 == 0:
        n, count = n // 2, count + 1
    return count


def _check_scales(
    name: str,
    image_shape: Shape,
    num_scales: int,
    squeezes_per_scale: Literal["all", "all but last"],
):
    """Raise unless ``num_scales`` fits ``image_shape``; ``squeezes_per_scale`` is "all" (every
    scale squeezes, Glow) or "all but last" (RealNVP: the last scale does not)."""
    error = image_shape_error(name, image_shape)
    if error:
        raise ValueError(error)
    h, w, _ = image_shape
    most = min(_halvings(h), _halvings(w))
    if squeezes_per_scale == "all":
        valid = list(range(1, most + 1))
        squeezes = num_scales
    else:  # the last scale's checkerboard needs at least two pixels
        valid = [s for s in range(1, most + 2) if (h * w) >> (2 * (s - 1)) >= 2]
        squeezes = num_scales - 1
    if num_scales in valid:
        return
    if valid:
        counts = ", ".join(map(str, valid))
        hint = f"Valid num_scales for this shape: {counts}."
    else:
        hint = "No scale count works: crop or pad the image to an even height and width."
    raise ValueError(
        f"{name}: image_shape {tuple(image_shape)} cannot be split into {num_scales} scales: "
        f"that takes {squeezes} 2x2 squeeze(s), so height and width must be divisible by "
        f"2**{squeezes} = {2**squeezes}. {hint}"
    )


def _alternating(
    make: Callable, masks, num_layers: int, key: PRNGKeyArray, unroll: int | bool | str = "auto"
) -> AbstractBijector:
    """``num_layers`` layers with masks alternating; two or more pairs are scan-stacked
    (``unroll`` as in :class:`Stack`)."""

    def pair(k):
        k0, k1 = jax.random.split(k)
        return Chain([make(k0, masks[0]), make(k1, masks[1])])

    k_pairs, k_last = jax.random.split(key)
    pairs = num_layers // 2
    if pairs >= 2:
        layers = [Stack.from_factory(k_pairs, pair, pairs, unroll=unroll)]
    else:
        layers = [pair(k_pairs)] if pairs else []
    if num_layers % 2:
        layers.append(make(k_last, masks[0]))
    return layers[0] if len(layers) == 1 else Chain(layers)


def _check_preprocess(
    owner: str, logit_alpha: float | None, rescale: tuple[float, float] | None
) -> tuple[float, float] | None:
    """``rescale`` as a pair of floats (or None); both preprocessings at once is an error."""
    if rescale is None:
        return None
    if logit_alpha is not None:
        raise ValueError(
            f"{owner}: logit_alpha={logit_alpha} and rescale={rescale} both map the data in "
            "[0, 1] into model space; pass rescale=None with logit_alpha, or "
            "logit_alpha=None with rescale."
        )
    if len(rescale) != 2 or not float(rescale[0]) < float(rescale[1]):
        raise ValueError(
            f"{owner}: rescale must be a pair (low, high) with low < high, the interval the "
            f"data in [0, 1] are mapped onto; got {rescale!r}."
        )
    return float(rescale[0]), float(rescale[1])


def _learned_top(shape: Shape) -> Affine:
    """Glow's ``learn_top``: a per-entry affine map of the top latent, starting at the
    identity; under the standard normal base that latent is N(mu, diag(sigma**2)) with
    learned ``mu`` and ``sigma``."""
    return Affine(jnp.zeros(shape), jnp.ones(shape))


def _flow(
    model: AbstractBijector,
    image_shape: Shape,
    logit_alpha: float | None,
    rescale: tuple[float, float] | None = None,
) -> Flow:
    if logit_alpha is not None:
        model = Chain([LogitPreprocess(image_shape, logit_alpha), model])
    if rescale is not None:
        low, high = rescale
        model = Chain([Rescale(image_shape, low=low, high=high), model])
    return Flow(Invert(model), standard_normal(tuple(image_shape)))


def _build(make: Callable[[PRNGKeyArray], Flow], key: PRNGKeyArray) -> Flow:
    """``make(key)`` traced and compiled as one program: building a deep model then costs one
    compilation rather than one per initialisation op."""
    return eqx.filter_jit(make)(key)


def realnvp_multiscale(
    key: PRNGKeyArray,
    *,
    image_shape: Shape,
    num_scales: int = 2,
    layers_per_scale: int = 3,
    final_layers: int = 4,
    width: int = 64,
    depth: int = 2,
    activation: Callable = jax.nn.relu,
    logit_alpha: float | None = 0.05,
    batch_norm: bool = False,
    cond_shape: int | Shape | None = None,
    unroll: int | bool | str = "auto",
    rescale: tuple[float, float] | None = None,
    learn_top: bool = False,
) -> Flow:
    """Multi-scale RealNVP (Dinh et al. 2017) on images ``(H, W, C)`` with data in [0, 1].

    Each scale but the last: ``layers_per_scale`` checkerboard affine couplings, a
    squeeze (RealNVP's checkerboard channel order), as many channel-wise couplings, then half
    the channels are factored out to the base. The last scale: ``final_layers``
    checkerboard couplings. Conditioners are conv ResNets.

    Args:
        key: the PRNG key for the initial parameters.
        image_shape: the shape ``(H, W, C)`` of one image; ``H`` and ``W`` must be divisible
            by ``2**(num_scales - 1)``.
        num_scales: the scales; each but the last squeezes 2x2 and factors out half the
            channels.
        layers_per_scale: checkerboard couplings, and as many channel-wise couplings, per
            scale but the last.
        final_layers: checkerboard couplings of the last scale.
        width: the channels of the conditioners' conv ResNets.
        depth: the residual blocks of each conditioner.
        activation: the conditioners' activation.
        logit_alpha: puts a :class:`LogitPreprocess` with this ``alpha`` first (RealNVP's
            preprocessing); None for none.
        batch_norm: adds a :class:`BatchNorm` after every coupling (train with
            :func:`flowkit.flows.update_batch_norm_state`; sample with
            :func:`flowkit.flows.batch_norm_inference`).
        cond_shape: the shape of a condition (an int ``k`` means ``(k,)``), flattened and
            broadcast over the image as extra conditioner channels; None for an
            unconditional flow.
        unroll: layers per scan iteration of the stacked couplings, as in :func:`glow`.
        rescale: as in :func:`glow`; here off by default, as the logit preprocessing is
            RealNVP's.
        learn_top: as in :func:`glow`.

    Returns:
        A :class:`Flow` on images of shape ``image_shape`` with a standard normal base of
        the same shape, conditioned on arrays of shape ``cond_shape`` if given.

    Raises:
        ValueError: ``image_shape`` is not ``(H, W, C)`` or cannot be split into
            ``num_scales`` scales, both ``logit_alpha`` and ``rescale`` are given,
            ``rescale`` is not an increasing pair, or ``cond_shape`` is not positive.
    """
    image_shape = tuple(image_shape)
    _check_scales("realnvp_multiscale", image_shape, num_scales, "all but last")
    cond_shape = as_cond_shape("realnvp_multiscale", cond_shape)
    rescale = _check_preprocess("realnvp_multiscale", logit_alpha, rescale)

    def coupling(k, mask):
        layer = conv_affine_coupling(
            k, mask, width=width, depth=depth, activation=activation, cond_shape=cond_shape
        )
        return Chain([layer, BatchNorm(mask.shape)]) if batch_norm else layer

    def scale(shape, level, k):
        h, w, c = shape
        k_board, k_channel, k_inner = jax.random.split(k, 3)
        if level == num_scales - 1:
            masks = [checkerboard_mask(h, w, c, p) for p in (0, 1)]
            last = _alternating(coupling, masks, final_layers, k_board, unroll)
            return MultiScale(Chain([last, _learned_top(shape)]) if learn_top else last)
        squeeze = Squeeze(shape, ordering="checkerboard")
        s = squeeze.out_shape
        board = [checkerboard_mask(h, w, c, p) for p in (0, 1)]
        channel = [channel_mask(s[0], s[1], s[2], p) for p in (0, 1)]
        transform = Chain(
            [
                _alternating(coupling, board, layers_per_scale, k_board, unroll),
                squeeze,
                _alternating(coupling, channel, layers_per_scale, k_channel, unroll),
            ]
        )
        inner = scale(s[:2] + (s[2] // 2,), level + 1, k_inner)
        return MultiScale(transform, inner)

    def make(k):
        model = scale(image_shape, 0, k)
        return _flow(model, image_shape, logit_alpha, rescale)

    return _build(make, key)


def glow(
    key: PRNGKeyArray,
    *,
    image_shape: Shape,
    num_scales: int = 2,
    layers_per_scale: int = 8,
    width: int = 128,
    depth: int = 1,
    lu_decomposed: bool = True,
    coupling: TransformerSpec = "affine",
    activation: Callable = jax.nn.relu,
    logit_alpha: float | None = None,
    cond_shape: int | Shape | None = None,
    unroll: int | bool | str = "auto",
    rescale: tuple[float, float] | None = (-0.5, 0.5),
    split_prior: bool = True,
    learn_top: bool = True,
) -> Flow:
    """Glow (Kingma & Dhariwal 2018) on images ``(H, W, C)`` with data in [0, 1].

    Every scale squeezes 2x2, then runs ``layers_per_scale`` steps of ActNorm, invertible
    1x1 convolution and channel-wise coupling, scan-stacked; every scale but the last
    factors half its channels out to the base. Initialise the ActNorms with
    :func:`flowkit.data_init` on a batch before training. Sample at a temperature with
    ``flow.sample(key, shape, temperature=0.7)``. Every Glow layer declares an exact
    inverse, so ``with_memory_mode(flow, "invertible")`` (or a training entry point's
    ``memory="invertible"``) keeps activation memory flat in depth.

    Args:
        key: the PRNG key for the initial parameters.
        image_shape: the shape ``(H, W, C)`` of one image; ``H`` and ``W`` must be divisible
            by ``2**num_scales``.
        num_scales: the scales, each squeezing 2x2.
        layers_per_scale: the (ActNorm, 1x1 convolution, coupling) steps of each scale.
        width: the channels of the conditioners' conv ResNets.
        depth: the residual blocks of each conditioner.
        lu_decomposed: the 1x1 convolutions in LU form (:class:`InvertibleConv1x1LU`)
            rather than a dense matrix (:class:`InvertibleConv1x1`).
        coupling: ``"affine"`` (the paper's default) or ``"additive"`` (volume preserving),
            or any transformer spec accepted by :func:`realnvp`.
        activation: the conditioners' activation.
        logit_alpha: puts a :class:`LogitPreprocess` with this ``alpha`` first; only with
            ``rescale=None``.
        cond_shape: the shape of a condition (an int ``k`` means ``(k,)``), flattened and
            broadcast over the image as extra conditioner channels; None for an
            unconditional flow.
        unroll: layers per scan iteration of the stacked steps, as in :class:`Stack`
            (``"auto"``: chosen per backend).
        rescale: ``(low, high)`` puts a :class:`Rescale` from [0, 1] onto ``[low, high]``
            first; as in the paper, the default ``(-0.5, 0.5)`` makes the model see
            ``x - 0.5`` while scores stay those of the data in [0, 1] (its log-det is
            ``D log(high - low)``, 0 here). None models [0, 1] directly (or pass
            ``logit_alpha``).
        split_prior: each factored-out half gets a learned prior
            ``N(mu(z1), exp(logs(z1))**2)`` from the kept half (a zero-initialised
            :func:`split_prior`).
        learn_top: the last scale's latent gets a learned per-entry mean and scale (an
            identity-initialised :class:`Affine`), Glow's trainable top prior; the flow's
            base stays a fixed standard normal, so ``temperature`` still scales every latent
            around its learned mean.

    Returns:
        A :class:`Flow` on images of shape ``image_shape`` with a standard normal base of
        the same shape, conditioned on arrays of shape ``cond_shape`` if given.

    Raises:
        ValueError: ``image_shape`` is not ``(H, W, C)`` or cannot be split into
            ``num_scales`` scales, ``layers_per_scale < 1``, both ``logit_alpha`` and
            ``rescale`` are given, ``rescale`` is not an increasing pair, ``coupling`` is
            not a valid name, or ``cond_shape`` is not positive.
    """
    image_shape = tuple(image_shape)
    _check_scales("glow", image_shape, num_scales, "all")
    if layers_per_scale < 1:
        raise ValueError(f"glow: layers_per_scale must be >= 1; got {layers_per_scale}.")
    cond_shape = as_cond_shape("glow", cond_shape)
    rescale = _check_preprocess("glow", logit_alpha, rescale)
    check_transformer("glow", coupling, "coupling")  # before tracing, so a bad name stays one line
    conv = InvertibleConv1x1LU if lu_decomposed else InvertibleConv1x1

    def step(shape, k):
        k_conv, k_coupling = jax.random.split(k)
        mask = channel_mask(shape[0], shape[1], shape[2])
        transformer = make_transformer("glow", coupling, int((~mask).sum()))
        layer = conv_affine_coupling(
            k_coupling, mask, width=width, depth=depth, activation=activation,
            cond_shape=cond_shape, transformer=transformer,
        )  # fmt: skip
        return Chain([ActNorm(shape), conv(k_conv, shape), layer])

    def scale(shape, level, k):
        k_steps, k_inner = jax.random.split(k)
        squeeze = Squeeze(shape)
        s = squeeze.out_shape
        steps = Stack.from_factory(k_steps, lambda kk: step(s, kk), layers_per_scale, unroll=unroll)
        if level == num_scales - 1:
            return MultiScale(Chain([squeeze, steps] + ([_learned_top(s)] if learn_top else [])))
        # fold_in: the other layers draw the same parameters with or without a split prior
        prior = [split_prior_layer(jax.random.fold_in(k, 1), s, cond_shape=cond_shape)]
        inner = scale(s[:2] + (s[2] // 2,), level + 1, k_inner)
        return MultiScale(Chain([squeeze, steps] + (prior if split_prior else [])), inner)

    def make(k):
        return _flow(scale(image_shape, 0, k), image_shape, logit_alpha, rescale)

    return _build(make, key)


def count_parameters(model: PyTree) -> int:
    """The number of trainable scalars in ``model``.

    Args:
        model: a flow, bijector or any PyTree of arrays.

    Returns:
        The number of floating-point array entries outside a frozen base distribution.
    """
    params = eqx.filter(model, trainable_filter(model))
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))
