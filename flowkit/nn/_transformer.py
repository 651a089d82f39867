"""A transformer over a sequence of tokens: causal (TarFlow's conditioner, with a key/value
cache for decoding one position at a time) or bidirectional (Jet's ViT conditioner).

Pre-LayerNorm blocks (attention, then a GELU MLP, each in a residual branch), a learned
positional embedding, an optional condition vector embedded and added to every token, and a
zero-initialised output projection, so a flow layer built on a fresh transformer is the
identity. The ``depth`` blocks are stored stacked (a leading axis on every array leaf) and
run with ``jax.lax.scan``: compile time does not grow with depth.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Array, Bool, DTypeLike, Float, Int, PRNGKeyArray
from ._sizes import check_sizes


def layer_norm(
    x: Float[Array, "... w"],
    weight: Float[Array, " w"],
    bias: Float[Array, " w"],
    eps: float = 1e-5,
) -> Float[Array, "... w"]:
    """LayerNorm over the last axis, with a learned ``weight`` and ``bias``.

    Args:
        x: shape ``(..., w)``.
        weight: the scale, shape ``(w,)``.
        bias: the shift, shape ``(w,)``.
        eps: added to the variance (no 0/0 on a constant row).

    Returns:
        Shape ``(..., w)``.
    """
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * weight + bias  # eps: no 0/0 on constant rows


def attention(
    q: Float[Array, "q h d"],
    k: Float[Array, "k h d"],
    v: Float[Array, "k h d"],
    mask: Bool[Array, "q k"],
) -> Float[Array, "q h d"]:
    """Multi-head scaled dot-product attention.

    Args:
        q: queries, shape ``(q, heads, head_dim)``.
        k: keys, shape ``(k, heads, head_dim)``.
        v: values, shape ``(k, heads, head_dim)``.
        mask: shape ``(q, k)``, True where query ``i`` may see key ``j`` (every row must see
            at least one key).

    Returns:
        Shape ``(q, heads, head_dim)``.
    """
    scores = jnp.einsum("qhd,khd->hqk", q, k) / math.sqrt(q.shape[-1])
    # A finite fill, not -inf: masked scores get weight exp(min - max) = 0 and no inf - inf NaN.
    scores = jnp.where(mask[None], scores, jnp.finfo(scores.dtype).min)
    return jnp.einsum("hqk,khd->qhd", jax.nn.softmax(scores, axis=-1), v)


def step_attention(
    q: Float[Array, "h d"],
    keys: Float[Array, "h k d"],
    values: Float[Array, "h k d"],
    mask: Bool[Array, " k"],
) -> Float[Array, "h d"]:
    """One query per head against a cache.

    Args:
        q: one query per head, shape ``(heads, head_dim)``.
        keys: shape ``(heads, positions, head_dim)``.
        values: shape ``(heads, positions, head_dim)``.
        mask: shape ``(positions,)``, True where key ``j`` may be seen (at least one).

    Returns:
        Shape ``(heads, head_dim)``.
    """
    scores = jnp.einsum("hd,hkd->hk", q, keys) / math.sqrt(q.shape[-1])
    scores = jnp.where(mask[None], scores, jnp.finfo(scores.dtype).min)  # finite: no inf - inf
    return jnp.einsum("hk,hkd->hd", jax.nn.softmax(scores, axis=-1), values)


class KVCache(eqx.Module):
    """Keys and values of each block at every position: tuples of ``depth`` arrays
    ``(heads, seq_len, head_dim)``; positions not yet decoded hold zeros and are masked out.

    One buffer per block, heads before positions: a decoding step writes its key and value
    into its block's buffer in place and attends to it with no slice or transpose copy (a
    stacked ``(depth, ...)`` array, batched by ``vmap``, cost such a copy per block per step).
    Made by :meth:`CausalTransformer.init_cache`.

    Args:
        keys: one array per block, each of shape ``(heads, seq_len, head_dim)``.
        values: one array per block, each of shape ``(heads, seq_len, head_dim)``.
    """

    keys: tuple[Float[Array, "heads seq head_dim"], ...]
    values: tuple[Float[Array, "heads seq head_dim"], ...]


class _Block(eqx.Module):
    """One pre-LayerNorm block: ``h + attn(ln(h))``, then ``h + mlp(ln(h))``."""

    norm1: tuple[Array, Array]
    qkv: eqx.nn.Linear
    proj: eqx.nn.Linear
    norm2: tuple[Array, Array]
    fc1: eqx.nn.Linear
    fc2: eqx.nn.Linear
    heads: int = eqx.field(static=True)

    def __init__(self, key: PRNGKeyArray, width: int, heads: int, mlp_ratio: int):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        self.norm1 = (jnp.ones(width), jnp.zeros(width))
        self.qkv = eqx.nn.Linear(width, 3 * width, key=k1)
        self.proj = eqx.nn.Linear(width, width, key=k2)
        self.norm2 = (jnp.ones(width), jnp.zeros(width))
        self.fc1 = eqx.nn.Linear(width, mlp_ratio * width, key=k3)
        self.fc2 = eqx.nn.Linear(mlp_ratio * width, width, key=k4)
        self.heads = heads

    def _qkv(self, h):
        n, width = h.shape
        qkv = jax.vmap(self.qkv)(layer_norm(h, *self.norm1))
        q, k, v = jnp.split(qkv, 3, axis=-1)
        shape = (n, self.heads, width // self.heads)
        return q.reshape(shape), k.reshape(shape), v.reshape(shape)

    def _finish(self, h, attended):
        h = h + jax.vmap(self.proj)(attended.reshape(h.shape))
        u = layer_norm(h, *self.norm2)
        return h + jax.vmap(self.fc2)(jax.nn.gelu(jax.vmap(self.fc1)(u)))

    def __call__(self, h: Float[Array, "n w"], mask) -> Float[Array, "n w"]:
        q, k, v = self._qkv(h)
        return self._finish(h, attention(q, k, v, mask))

    def step(self, h: Float[Array, "1 w"], keys, values, t: Int[Array, ""]):
        """Position ``t`` alone: its key and value are written in place into this block's
        ``(heads, seq, head_dim)`` cache, its query attends to positions ``0..t``."""
        q, k, v = self._qkv(h)  # (1, heads, head_dim)
        keys = jax.lax.dynamic_update_slice(keys, k.transpose(1, 0, 2), (0, t, 0))
        values = jax.lax.dynamic_update_slice(values, v.transpose(1, 0, 2), (0, t, 0))
        attended = step_attention(q[0], keys, values, jnp.arange(keys.shape[1]) <= t)
        return self._finish(h, attended[None]), keys, values


class CausalTransformer(eqx.Module):
    """``(seq_len, in_features) -> (seq_len, out_features)``; output ``t`` depends on inputs
    ``0..t`` only (``causal=False``: on all of them, a ViT encoder).

    ``condition`` (a vector of ``cond_size``, e.g. a one-hot class or a context vector) is
    embedded linearly and added to every token. The output projection starts at zero.
    :meth:`step` decodes one position at a time with a :class:`KVCache` (causal only); it
    gives the same outputs as :meth:`__call__` at a cost linear in the number of positions.

    Args:
        key: draws the initial weights.
        seq_len: number of tokens.
        in_features: features per input token.
        out_features: features per output token.
        width: the model's token width (divisible by ``heads``).
        depth: number of blocks.
        heads: attention heads per block.
        cond_size: length of the condition vector, or None.
        mlp_ratio: hidden width of each block's MLP, as a multiple of ``width``.
        causal: whether output ``t`` sees inputs ``0..t`` only.

    Raises:
        ValueError: if a size is < 1 or ``width`` is not divisible by ``heads``.
    """

    embed: eqx.nn.Linear
    position: Float[Array, "seq width"]
    cond_embed: eqx.nn.Linear | None
    blocks: _Block  # stacked: every array leaf has a leading axis of length depth
    norm: tuple[Array, Array]
    head: eqx.nn.Linear
    seq_len: int = eqx.field(static=True)
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    heads: int = eqx.field(static=True)
    cond_size: int | None = eqx.field(static=True)
    causal: bool = eqx.field(static=True)

    def __init__(
        self,
        key: PRNGKeyArray,
        seq_len: int,
        in_features: int,
        out_features: int,
        *,
        width: int = 64,
        depth: int = 2,
        heads: int = 4,
        cond_size: int | None = None,
        mlp_ratio: int = 4,
        causal: bool = True,
    ):
        check_sizes(
            "CausalTransformer", 1, seq_len=seq_len, in_features=in_features,
            out_features=out_features, width=width, depth=depth, heads=heads,
            cond_size=cond_size, mlp_ratio=mlp_ratio,
        )  # fmt: skip
        if width % heads:
            raise ValueError(
                f"CausalTransformer: width must be divisible by heads; got width={width}, "
                f"heads={heads}. E.g. width={heads * max(1, width // heads)}."
            )
        k_embed, k_pos, k_cond, k_blocks, k_head = jax.random.split(key, 5)
        self.embed = eqx.nn.Linear(in_features, width, key=k_embed)
        self.position = 0.02 * jax.random.normal(k_pos, (seq_len, width))
        self.cond_embed = None if cond_size is None else eqx.nn.Linear(cond_size, width, key=k_cond)
        make = lambda k: _Block(k, width, heads, mlp_ratio)  # noqa: E731
        self.blocks = eqx.filter_vmap(make)(jax.random.split(k_blocks, depth))
        self.norm = (jnp.ones(width), jnp.zeros(width))
        head = eqx.nn.Linear(width, out_features, key=k_head)
        self.head = jax.tree_util.tree_map(jnp.zeros_like, head)  # a fresh flow is the identity
        self.seq_len, self.in_features, self.out_features = seq_len, in_features, out_features
        self.width, self.depth, self.heads = width, depth, heads
        self.cond_size = cond_size
        self.causal = causal

    def _tokens(self, x, condition, position):
        h = jax.vmap(self.embed)(x) + position
        if self.cond_embed is not None:
            if condition is None:
                raise ValueError(
                    f"CausalTransformer: built with cond_size={self.cond_size}; pass a "
                    f"condition of shape ({self.cond_size},)."
                )
            h = h + self.cond_embed(condition.reshape(-1).astype(h.dtype))
        return h

    def _out(self, h):
        return jax.vmap(self.head)(layer_norm(h, *self.norm))

    def __call__(
        self, x: Float[Array, "seq in_features"], condition: Float[Array, " cond"] | None = None
    ) -> Float[Array, "seq out_features"]:
        """All positions in one pass.

        Args:
            x: the tokens, shape ``(seq_len, in_features)``.
            condition: shape ``(cond_size,)``; required when built with ``cond_size``.

        Returns:
            Shape ``(seq_len, out_features)``.

        Raises:
            ValueError: if built with ``cond_size`` and no condition is given.
        """
        h = self._tokens(x, condition, self.position)
        n = self.seq_len
        mask = jnp.tril(jnp.ones((n, n), bool)) if self.causal else jnp.ones((n, n), bool)
        params, static = eqx.partition(self.blocks, eqx.is_array)

        def body(h, block_params):
            return eqx.combine(block_params, static)(h, mask), None

        h, _ = jax.lax.scan(body, h, params)
        return self._out(h)

    def init_cache(self, dtype: DTypeLike | None = None) -> KVCache:
        """An empty cache (zeros) for :meth:`step`.

        Args:
            dtype: the cache's dtype; ``None`` takes the parameters' dtype.

        Returns:
            ``depth`` zero buffers of keys and of values, each ``(heads, seq_len, head_dim)``.
        """
        dtype = dtype or self.position.dtype
        zeros = jnp.zeros((self.heads, self.seq_len, self.width // self.heads), dtype)
        return KVCache((zeros,) * self.depth, (zeros,) * self.depth)

    def step(
        self,
        cache: KVCache,
        t: Int[Array, ""],
        token: Float[Array, " in_features"],
        condition: Float[Array, " cond"] | None = None,
    ) -> tuple[Float[Array, " out_features"], KVCache]:
        """Feed the token at position ``t`` (positions ``0..t-1`` already in ``cache``).

        Args:
            cache: the cache holding positions ``0..t-1``.
            t: the position, an int scalar (may be traced).
            token: the input token at ``t``, shape ``(in_features,)``.
            condition: shape ``(cond_size,)``; required when built with ``cond_size``.

        Returns:
            ``(output, cache)``: the output at ``t`` (as ``__call__(x)[t]``), shape
            ``(out_features,)``, and the cache with position ``t`` written.

        Raises:
            ValueError: if built with ``causal=False``, or a required condition is missing.
        """
        if not self.causal:
            raise ValueError("CausalTransformer.step needs causal=True (a ViT sees every token).")
        position = jax.lax.dynamic_index_in_dim(self.position, t, axis=0)
        h = self._tokens(token[None], condition, position)
        params, static = eqx.partition(self.blocks, eqx.is_array)

        # A Python loop over the blocks, not a scan: each block's cache is its own buffer in
        # the sampler's carry, updated in place (this step is small; depth unrolls cheaply).
        keys, values = list(cache.keys), list(cache.values)
        for i in range(self.depth):
            block = eqx.combine(jax.tree_util.tree_map(lambda a, i=i: a[i], params), static)
            h, keys[i], values[i] = block.step(h, keys[i], values[i], t)
        return self._out(h)[0], KVCache(tuple(keys), tuple(values))
