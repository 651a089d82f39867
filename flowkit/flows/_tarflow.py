"""TarFlow (Zhai et al. 2024): patches, then blocks of transformer autoregressive flows that
alternate direction; and its score-based denoising of samples.

Images are ``(H, W, C)``, one per call (``Flow`` batches). In the generative direction a
latent image is cut into patches, run through the blocks (each one a ``lax.scan`` over
positions with a key/value cache) and put back together; the density direction is one
parallel transformer pass per block. TarFlow trains on data with Gaussian noise added
(:func:`add_noise`, or :func:`flowkit.train.noise_augmented_loss` inside a step) and
removes it from samples with one score step (:func:`denoise`). Conditional TarFlows sample
with classifier-free guidance (:func:`with_guidance`), the null condition being all zeros,
learnt by training with :func:`drop_condition`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array, ArrayLike, Float, PRNGKeyArray, PyTree, Shape
from ..bijectors._base import AbstractBijector
from ..bijectors._chain import Chain
from ..bijectors._invert import Invert
from ..bijectors._patchify import Patchify
from ..bijectors._stack import Stack
from ..bijectors._transformer_autoregressive import TransformerAutoregressive
from ._bases import standard_normal
from ._factory_args import as_cond_shape
from ._flow import Flow


def _blocks(key, make, num_blocks: int) -> AbstractBijector:
    """``num_blocks`` blocks, directions alternating (forward, reverse, ...); pairs are
    scan-stacked, an odd last block follows them."""

    def pair(k):
        k0, k1 = jax.random.split(k)
        return Chain([make(k0, False), make(k1, True)])

    k_pairs, k_last = jax.random.split(key)
    layers = [Stack.from_factory(k_pairs, pair, num_blocks // 2)] if num_blocks >= 2 else []
    if num_blocks % 2:
        layers.append(make(k_last, False))
    return layers[0] if len(layers) == 1 else Chain(layers)


def tarflow(
    key: PRNGKeyArray,
    *,
    image_shape: Shape,
    patch_size: int,
    num_blocks: int = 4,
    layers_per_block: int = 2,
    width: int = 64,
    heads: int = 4,
    cond_shape: int | Shape | None = None,
    kv_cache: bool = True,
    log_scale_bound: float = 2.0,
    guidance: float = 0.0,
) -> Flow:
    """TarFlow on images ``(H, W, C)``: :class:`Patchify` into ``p x p`` patches, then
    ``num_blocks`` :class:`TransformerAutoregressive` blocks (each a causal transformer of
    ``layers_per_block`` layers, ``width`` features, ``heads`` heads) alternating direction,
    then the patches back into an image; a standard normal base of ``image_shape``.

    Fresh flows are the identity. Train on noisy data (:func:`add_noise`) and clean samples
    with :func:`denoise`, as the paper does; with uniformly dequantized pixels the plain
    likelihood gives bits/dim.

    Args:
        key: draws the initial weights.
        image_shape: ``(H, W, C)``, ``H`` and ``W`` divisible by ``patch_size``.
        patch_size: side ``p`` of the square patches (the tokens).
        num_blocks: autoregressive blocks, alternating direction.
        layers_per_block: transformer layers per block.
        width: the transformers' token width (divisible by ``heads``).
        heads: attention heads per layer.
        cond_shape: a condition (e.g. a one-hot class; an int ``k`` means ``(k,)``) embedded
            into every token of every block, or None.
        kv_cache: ``False`` samples by recomputing each prefix (a slow reference).
        log_scale_bound: each block's initial tanh bound on its log-scales (learnable; the
            blocks together must reach the scale of the data).
        guidance: every block's classifier-free guidance weight when sampling (needs
            ``cond_shape``; see :func:`with_guidance`).

    Returns:
        A flow over images of shape ``image_shape`` with a standard normal base.

    Raises:
        ValueError: if ``num_blocks < 1``, the image does not split into patches, or a size
            is out of range.
    """
    image_shape = tuple(image_shape)
    cond_shape = as_cond_shape("tarflow", cond_shape)
    patchify = Patchify(image_shape, patch_size)
    if num_blocks < 1:
        raise ValueError(f"tarflow: num_blocks must be >= 1; got {num_blocks}.")
    sequence = patchify.out_shape

    def block(k, reverse):
        return TransformerAutoregressive.from_sizes(
            k,
            sequence,
            width=width,
            depth=layers_per_block,
            heads=heads,
            reverse=reverse,
            kv_cache=kv_cache,
            cond_shape=cond_shape,
            log_scale_bound=log_scale_bound,
            guidance=guidance,
        )

    def make(k):
        blocks = _blocks(k, block, num_blocks)
        return Flow(Chain([patchify, blocks, Invert(patchify)]), standard_normal(image_shape))

    return eqx.filter_jit(make)(key)  # one compilation instead of one per initialiser op


def with_guidance(model: PyTree, guidance: float) -> PyTree:
    """``model`` with every :class:`TransformerAutoregressive` block's guidance weight set.

    ``sample`` then mixes each step's conditional and null-condition (zeros) predictions,
    ``(1 + w) * cond - w * uncond``; ``log_prob`` is unchanged (the conditional model).

    Args:
        model: a flow or bijector holding conditional TarFlow blocks.
        guidance: the weight ``w`` (0: plain conditional sampling).

    Returns:
        ``model`` with the blocks replaced.

    Raises:
        ValueError: if ``model`` holds no TarFlow block, or an unconditional one.
    """
    is_block = lambda m: isinstance(m, TransformerAutoregressive)  # noqa: E731
    found = [m for m in jax.tree_util.tree_leaves(model, is_leaf=is_block) if is_block(m)]
    if not found or any(m.cond_shape is None for m in found):
        raise ValueError(
            "with_guidance: needs conditional TransformerAutoregressive blocks (built with "
            f"cond_shape); found {len(found)} block(s), conditional: "
            f"{[m.cond_shape is not None for m in found]}."
        )

    def guided(m):
        if not is_block(m):
            return m
        kwargs = dict(reverse=m.reverse, kv_cache=m.kv_cache, cond_shape=m.cond_shape)
        return TransformerAutoregressive(m.conditioner, m.transformer, **kwargs, guidance=guidance)

    return jax.tree_util.tree_map(guided, model, is_leaf=is_block)


def drop_condition(
    key: PRNGKeyArray, condition: ArrayLike, rate: float
) -> Float[Array, "batch ..."]:
    """Each example's condition replaced by the null one (zeros) with probability ``rate``.

    Train with it so that guided sampling (:func:`with_guidance`) has an unconditional model
    to mix with (TarFlow uses ~0.1).

    Args:
        key: draws which conditions are dropped.
        condition: a batch of conditions, shape ``(batch, *cond_shape)``.
        rate: the probability of dropping each, in [0, 1].

    Returns:
        Shape ``(batch, *cond_shape)``.

    Raises:
        ValueError: if ``condition`` has no batch axis or ``rate`` is outside [0, 1].
    """
    condition = jnp.asarray(condition)
    if condition.ndim < 1 or not 0.0 <= rate <= 1.0:
        raise ValueError(
            f"drop_condition: expected a batch of conditions (ndim >= 1) and 0 <= rate <= 1; "
            f"got shape {condition.shape}, rate={rate}."
        )
    keep = jax.random.uniform(key, condition.shape[:1]) >= rate
    return jnp.where(keep.reshape((-1,) + (1,) * (condition.ndim - 1)), condition, 0)


def add_noise(key: PRNGKeyArray, x: ArrayLike, noise_std: float) -> Float[Array, "..."]:
    """``x + noise_std * N(0, 1)``, entry by entry: TarFlow's training noise.

    Args:
        key: draws the noise.
        x: any shape.
        noise_std: the noise's standard deviation.

    Returns:
        The shape and dtype of ``x``.
    """
    x = jnp.asarray(x)
    return x + noise_std * jax.random.normal(key, x.shape, x.dtype)


def denoise(
    flow: Flow, x: ArrayLike, noise_std: float, condition: ArrayLike | None = None
) -> Float[Array, "..."]:
    """Tweedie's one-step denoising with the flow's own score: ``x + sigma^2 grad_x log p(x)``.

    For a flow trained on data plus ``N(0, sigma^2)`` noise, this is ``E[clean | x]``
    (Zhai et al. 2024, Sec. 2.4).

    Args:
        flow: a flow trained on noisy data.
        x: samples, shape ``(*batch, *flow.shape)``.
        noise_std: ``sigma``, the training noise's standard deviation.
        condition: as :meth:`Flow.log_prob` takes it, for a conditional flow.

    Returns:
        Shape ``(*batch, *flow.shape)``.
    """
    x = jnp.asarray(x)
    score = jax.grad(lambda u: jnp.sum(flow.log_prob(u, condition)))(x)
    return x + noise_std**2 * score
