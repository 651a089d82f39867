"""TarFlow's block (Zhai et al. 2024): an affine autoregressive map over a token sequence
whose parameters come from a causal transformer.

Events are sequences ``(T, D)`` (e.g. :class:`Patchify`'s patches). Position ``t`` is
transformed with parameters computed from positions ``< t`` (shift by one: the transformer
reads ``[0, x_0, ..., x_{T-2}]``, so position 0 gets a learned constant, from its positional
embedding and the condition). Flow convention: ``forward`` maps base z to data x, so the
density direction (``inverse``) is one parallel pass and sampling (``forward``) is a
``lax.scan`` over positions that decodes with the transformer's key/value cache.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._typing import Array, PRNGKeyArray, Shape
from ..nn._transformer import CausalTransformer
from ._base import AbstractBijector
from ._checks import check_condition, check_event
from ._transformers import AbstractTransformer, AffineTransformer


class TransformerAutoregressive(AbstractBijector):
    """``x_t = T(z_t; f(x_{<t}))`` over positions ``t`` of a ``(T, D)`` sequence.

    The event shape is ``(T, D)``, the conditioner's ``(seq_len, in_features)``. With a
    guidance weight ``w``, each sampling step's conditioner outputs (shifts and pre-clamp
    log-scales) become ``(1 + w) * f(x_{<t}, c) - w * f(x_{<t}, 0)``, the all-zeros condition
    being the null ("no class") one; train with :func:`flowkit.flows.drop_condition` so the model
    learns it. The guided ``forward`` is still exactly invertible with its log-det, but
    ``inverse`` (the density) stays the plain conditional model's.

    Args:
        conditioner: a causal :class:`flowkit.nn.CausalTransformer` from ``D`` to
            ``D * transformer.num_params`` features over ``T`` positions, its ``cond_size``
            the size of ``cond_shape``.
        transformer: the elementwise family applied to the ``D`` entries of each position;
            None: an :class:`AffineTransformer`, whose tanh soft-clamps the log-scales.
        reverse: run over positions last to first (alternate it between blocks).
        kv_cache: sample with the key/value cache (linear in ``T``) instead of recomputing
            the prefix at every step (:meth:`forward_and_log_det_uncached`, quadratic; a
            reference).
        cond_shape: the condition's shape, or None when unconditional.
        guidance: the classifier-free guidance weight ``w`` for sampling a conditional block
            (0: plain conditional sampling).

    Raises:
        ValueError: if the conditioner is not causal, its output size is not
            ``D * transformer.num_params``, its ``cond_size`` differs from the size of
            ``cond_shape``, or ``guidance`` is nonzero for an unconditional block.
    """

    conditioner: CausalTransformer
    transformer: AbstractTransformer
    reverse: bool = eqx.field(static=True)
    kv_cache: bool = eqx.field(static=True)
    guidance: float = eqx.field(static=True)
    shape: Shape = eqx.field(static=True)
    cond_shape: Shape | None = eqx.field(static=True)

    def __init__(
        self,
        conditioner: CausalTransformer,
        transformer: AbstractTransformer | None = None,
        *,
        reverse: bool = False,
        kv_cache: bool = True,
        cond_shape: Shape | None = None,
        guidance: float = 0.0,
    ):
        transformer = transformer or AffineTransformer(conditioner.in_features)
        owner = "TransformerAutoregressive"
        if not conditioner.causal:
            raise ValueError(f"{owner}: the conditioner must be causal (causal=True).")
        wanted = conditioner.in_features * transformer.num_params
        if conditioner.out_features != wanted:
            raise ValueError(
                f"{owner}: the conditioner gives {conditioner.out_features} outputs per "
                f"position; the {type(transformer).__name__} needs in_features * num_params = "
                f"{conditioner.in_features} * {transformer.num_params} = {wanted}."
            )
        size = None if cond_shape is None else int(np.prod(cond_shape))
        if size != conditioner.cond_size:
            raise ValueError(
                f"{owner}: cond_shape {cond_shape} has {size} entries but the conditioner was "
                f"built with cond_size={conditioner.cond_size}; they must match."
            )
        if guidance and cond_shape is None:
            raise ValueError(
                f"{owner}: guidance={guidance} needs a conditional block (pass cond_shape)."
            )
        self.conditioner = conditioner
        self.transformer = transformer
        self.reverse = reverse
        self.kv_cache = kv_cache
        self.guidance = float(guidance)
        self.shape = (conditioner.seq_len, conditioner.in_features)
        self.cond_shape = None if cond_shape is None else tuple(cond_shape)

    @classmethod
    def from_sizes(
        cls,
        key: PRNGKeyArray,
        shape: Shape,
        *,
        width: int = 64,
        depth: int = 2,
        heads: int = 4,
        reverse: bool = False,
        kv_cache: bool = True,
        cond_shape: Shape | None = None,
        log_scale_bound: float = 1.0,
        guidance: float = 0.0,
    ) -> "TransformerAutoregressive":
        """An affine block with a fresh causal transformer; the identity at start.

        Args:
            key: initialises the transformer.
            shape: the event shape ``(T, D)``: ``T`` positions of ``D`` features.
            width: the transformer's features per position.
            depth: the transformer's number of blocks.
            heads: attention heads per block.
            reverse: run over positions last to first.
            kv_cache: sample with the key/value cache.
            cond_shape: the condition's shape, or None when unconditional.
            log_scale_bound: the initial tanh bound on each log-scale (learnable after).
            guidance: the classifier-free guidance weight for sampling.

        Returns:
            A TransformerAutoregressive on events of shape ``(T, D)``.
        """
        seq_len, features = shape
        transformer = AffineTransformer(features)
        rescale = jnp.full((features,), log_scale_bound, transformer.rescale.dtype)
        transformer = eqx.tree_at(lambda t: t.rescale, transformer, rescale)
        size = None if cond_shape is None else int(np.prod(cond_shape))
        net = CausalTransformer(
            key,
            seq_len,
            features,
            features * transformer.num_params,
            width=width,
            depth=depth,
            heads=heads,
            cond_size=size,
        )
        return cls(
            net,
            transformer,
            reverse=reverse,
            kv_cache=kv_cache,
            cond_shape=cond_shape,
            guidance=guidance,
        )

    def _orient(self, u: Array) -> Array:
        return u[::-1] if self.reverse else u

    def _cond(self, condition):
        return None if condition is None else condition.reshape(-1)

    def _conds(self, condition):
        """The conditions each sampling step reads: ``[c]``, or ``[c, 0]`` when guided."""
        cond = self._cond(condition)
        if not self.guidance or cond is None:
            return [cond]
        return [cond, jnp.zeros_like(cond)]

    def _mix(self, outs):
        """Conditioner outputs of :meth:`_conds`, mixed by the guidance weight."""
        if len(outs) == 1:
            return outs[0]
        # c + w (c - u) rather than (1 + w) c - w u: where the two predictions agree (the null
        # condition itself) the guided output is exactly the unguided one, with no rounding.
        return outs[0] + self.guidance * (outs[0] - outs[1])

    def _params(self, x: Array, condition: Array | None) -> Array:
        """Parameters ``(T, D, num_params)``; row ``t`` from ``x[:t]`` only (shift by one)."""
        shifted = jnp.concatenate([jnp.zeros_like(x[:1]), x[:-1]])
        out = self.conditioner(shifted, self._cond(condition))
        return out.reshape(x.shape + (-1,))

    def inverse_and_log_det(self, y, condition):
        x = self._orient(y)
        apply = lambda u, p: self.transformer.inverse_and_log_det(u, p)  # noqa: E731
        z, log_deriv = jax.vmap(apply)(x, self._params(x, condition))
        return self._orient(z), jnp.sum(log_deriv)

    def forward_and_log_det(self, x, condition):
        if self.kv_cache:
            return self._forward_cached(x, condition)
        return self._forward_uncached(x, condition)

    def _forward_cached(self, z, condition):
        z = self._orient(z)
        net, conds = self.conditioner, self._conds(condition)

        def step(carry, inputs):
            caches, previous = carry
            t, z_t = inputs
            stepped = [net.step(k, t, previous, c) for k, c in zip(caches, conds, strict=True)]
            caches = tuple(cache for _, cache in stepped)
            out = self._mix([o for o, _ in stepped])
            x_t, log_deriv = self.transformer.forward_and_log_det(
                z_t, out.reshape(z_t.shape + (-1,))
            )
            return (caches, x_t), (x_t, log_deriv)

        init = (tuple(net.init_cache(z.dtype) for _ in conds), jnp.zeros_like(z[0]))
        _, (x, log_deriv) = jax.lax.scan(step, init, (jnp.arange(z.shape[0]), z))
        return self._orient(x), jnp.sum(log_deriv)

    def _forward_uncached(self, z, condition):
        z = self._orient(z)

        def step(t, carry):
            # Positions >= t are still 0; causality keeps them out of row t's parameters.
            x, log_deriv = carry
            params = self._mix([self._params(x, c) for c in self._conds(condition)])[t]
            x_t, ld_t = self.transformer.forward_and_log_det(z[t], params)
            return x.at[t].set(x_t), log_deriv.at[t].set(ld_t)

        x, log_deriv = jax.lax.fori_loop(
            0, z.shape[0], step, (jnp.zeros_like(z), jnp.zeros_like(z))
        )
        return self._orient(x), jnp.sum(log_deriv)

    def forward_and_log_det_uncached(self, z, condition=None):
        """The forward map recomputing the whole prefix at every step (no cache).

        The reference :meth:`forward_and_log_det` is checked against, quadratic in ``T``.

        Args:
            z: one event, shape ``(T, D)``.
            condition: shape ``cond_shape``, or None for an unconditional block.

        Returns:
            ``(x, log_det)``: ``x`` of shape ``(T, D)`` and the scalar ``log|det dx/dz|``.

        Raises:
            ValueError: ``z`` or ``condition`` does not have the shape above.
            TypeError: ``z`` is not float32/float64.
        """
        name = "TransformerAutoregressive.forward_and_log_det_uncached"
        z = check_event(name, "z", z, self.shape)
        return self._forward_uncached(z, check_condition(name, condition, self.cond_shape))
