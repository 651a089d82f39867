"""The four peer cases (A-D) built with flowkit, flowjax, distrax and as a matmul floor.

Every library gets the same architecture: layer count, conditioner widths and depth, the
transformer family and the number of bins. What each library cannot match exactly (flowkit's
learnable tanh bound per entry, flowjax's learned boundary slopes of the spline) shows in the
parameter counts printed side by side.
"""

import dataclasses
import importlib.util
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import flowkit as fk

from ._subject import Subject, randomise


@dataclasses.dataclass(frozen=True)
class PeerCase:
    """One architecture: ``kind`` is "affine" (RealNVP), "maf" or "spline" (NSF coupling)."""

    name: str
    title: str
    kind: str
    dim: int
    num_layers: int
    width: int
    depth: int
    batch: int = 256
    num_bins: int = 8
    tail_bound: float = 3.0


CASES = (
    PeerCase("A", "RealNVP D=784, 8 affine couplings, MLP 2x512", "affine", 784, 8, 512, 2),
    PeerCase("B", "MAF D=64, 5 layers, MADE [512, 512]", "maf", 64, 5, 512, 2),
    PeerCase("C", "NSF coupling D=64, 8 layers, 8 bins, [256, 256]", "spline", 64, 8, 256, 2),
    PeerCase("D", "2-D, 8 affine couplings, [64, 64] (per-call overhead)", "affine", 2, 8, 64, 2),
    # not a target: the smoke run's stand-in, small enough to compile in a blink
    PeerCase("S", "smoke: 2-D, 2 affine couplings, [8]", "affine", 2, 2, 8, 1, batch=8),
)


def find_case(name: str) -> PeerCase:
    """The case named ``name``."""
    for case in CASES:
        if case.name == name:
            return case
    raise KeyError(f"no peer case {name!r}; expected one of {[c.name for c in CASES]}")


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported (peers are optional: the ``bench`` extra)."""
    return importlib.util.find_spec(name) is not None


# ----------------------------------------------------------------------------- flowkit


def flowkit_subject(case: PeerCase, key) -> Subject:
    """The case built with flowkit's own factory, as a user would."""
    common: dict[str, Any] = dict(
        key=key, dim=case.dim, num_layers=case.num_layers, width=case.width, depth=case.depth
    )
    if case.kind == "affine":
        flow = fk.realnvp(**common)
    elif case.kind == "maf":
        flow = fk.maf(**common)
    else:
        flow = fk.nsf(kind="coupling", num_bins=case.num_bins, tail_bound=case.tail_bound, **common)
    flow = randomise(flow, fk.flows.trainable_filter(flow), jax.random.fold_in(key, 1))
    batch = (case.batch,)
    return Subject(
        "flowkit",
        flow,
        log_prob=lambda m, x: m.log_prob(x),
        sample=lambda m, k: m.sample(k, batch),
        sample_and_log_prob=lambda m, k: m.sample_and_log_prob(k, batch),
        trainable=fk.flows.trainable_filter(flow),
    )


# ----------------------------------------------------------------------------- flowjax


def flowjax_subject(case: PeerCase, key) -> Subject:
    """The case built with flowjax's factories (scan-stacked layers, ``invert=True``)."""
    # flowjax comes with the optional `bench` extra, which CI's type check does not install.
    import paramax  # pyright: ignore[reportMissingImports]
    from flowjax.bijections import (  # pyright: ignore[reportMissingImports]
        RationalQuadraticSpline,
    )
    from flowjax.distributions import Normal  # pyright: ignore[reportMissingImports]
    from flowjax.flows import (  # pyright: ignore[reportMissingImports]
        coupling_flow,
        masked_autoregressive_flow,
    )

    base = Normal(jnp.zeros(case.dim))
    common: dict[str, Any] = dict(
        base_dist=base, flow_layers=case.num_layers, nn_width=case.width, nn_depth=case.depth
    )
    if case.kind == "affine":
        dist = coupling_flow(key, **common)
    elif case.kind == "maf":
        dist = masked_autoregressive_flow(key, **common)
    else:  # flowjax counts inner knots: num_bins - 1 of them make num_bins bins
        spline = RationalQuadraticSpline(knots=case.num_bins - 1, interval=case.tail_bound)
        dist = coupling_flow(key, transformer=spline, **common)

    def is_frozen(leaf):
        return isinstance(leaf, paramax.NonTrainable)

    spec = jax.tree_util.tree_map(eqx.is_inexact_array, dist, is_leaf=is_frozen)
    no_base = jax.tree_util.tree_map(lambda _: False, dist.base_dist)
    spec = eqx.tree_at(lambda d: d.base_dist, spec, replace=no_base)  # base fixed, as flowkit
    dist = randomise(dist, spec, jax.random.fold_in(key, 1))
    batch = (case.batch,)
    return Subject(
        "flowjax",
        dist,
        log_prob=lambda m, x: m.log_prob(x),
        sample=lambda m, k: m.sample(k, batch),
        sample_and_log_prob=lambda m, k: m.sample_and_log_prob(k, batch),
        trainable=spec,
    )


# ----------------------------------------------------------------------------- distrax


class _DenseMLP(eqx.Module):
    """An MLP on batched inputs (``x @ W + b``), as distrax conditioners see them."""

    weights: tuple[jax.Array, ...]
    biases: tuple[jax.Array, ...]

    def __call__(self, x):
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            x = jax.nn.relu(x @ w + b)
        return x @ self.weights[-1] + self.biases[-1]


def _dense_mlp(key, sizes) -> _DenseMLP:
    keys = jax.random.split(key, len(sizes) - 1)
    weights, biases = [], []
    for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True):
        kw, kb = jax.random.split(k)
        weights.append(jax.random.uniform(kw, (a, b), minval=-1, maxval=1) / np.sqrt(a))
        biases.append(jax.random.uniform(kb, (b,), minval=-1, maxval=1) / np.sqrt(a))
    weights[-1] = weights[-1] * 0.01  # near-identity start, like the others
    biases[-1] = biases[-1] * 0.01
    return _DenseMLP(tuple(weights), tuple(biases))


def _affine_bijector(params):
    import distrax

    return distrax.ScalarAffine(shift=params[..., 0], log_scale=jnp.tanh(params[..., 1]))


class DistraxCouplingFlow(eqx.Module):
    """``distrax.MaskedCoupling`` layers in a ``distrax.Chain`` over a diagonal normal.

    The conditioner gathers the kept entries (so it has the same inputs and parameter count
    as flowkit's) and scatters its output to the transformed entries.
    """

    mlps: tuple[_DenseMLP, ...]
    dim: int = eqx.field(static=True)
    kind: str = eqx.field(static=True)
    num_bins: int = eqx.field(static=True)
    tail_bound: float = eqx.field(static=True)

    def num_params_per_entry(self) -> int:
        return 2 if self.kind == "affine" else 3 * self.num_bins + 1

    def _spline_bijector(self, params):
        import distrax

        bound = self.tail_bound
        return distrax.RationalQuadraticSpline(
            params, range_min=-bound, range_max=bound, boundary_slopes="identity"
        )

    def distribution(self):
        import distrax

        p = self.num_params_per_entry()
        layers = []
        for i, mlp in enumerate(self.mlps):
            mask = np.arange(self.dim) % 2 == i % 2
            kept, moved = np.flatnonzero(mask), np.flatnonzero(~mask)

            def conditioner(x, mlp=mlp, kept=kept, moved=moved):
                out = mlp(x[..., kept]).reshape(x.shape[:-1] + (moved.size, p))
                full = jnp.zeros(x.shape[:-1] + (self.dim, p), out.dtype)
                return full.at[..., moved, :].set(out)

            bijector = _affine_bijector if self.kind == "affine" else self._spline_bijector
            layers.append(distrax.MaskedCoupling(mask, conditioner, bijector))
        base = distrax.MultivariateNormalDiag(jnp.zeros(self.dim))
        return distrax.Transformed(base, distrax.Chain(layers))


def distrax_subject(case: PeerCase, key) -> Subject | None:
    """The case as distrax layers; None for MAF (distrax has no autoregressive bijector)."""
    if case.kind == "maf":
        return None
    p = 2 if case.kind == "affine" else 3 * case.num_bins + 1
    n_keep, n_move = (case.dim + 1) // 2, case.dim // 2
    mlps = []
    for i, k in enumerate(jax.random.split(key, case.num_layers)):
        kept, moved = (n_keep, n_move) if i % 2 == 0 else (n_move, n_keep)
        mlps.append(_dense_mlp(k, [kept] + [case.width] * case.depth + [moved * p]))
    model = DistraxCouplingFlow(tuple(mlps), case.dim, case.kind, case.num_bins, case.tail_bound)
    batch = (case.batch,)

    def sample_and_log_prob(m, k):
        return m.distribution().sample_and_log_prob(seed=k, sample_shape=batch)

    return Subject(
        "distrax",
        model,
        log_prob=lambda m, x: m.distribution().log_prob(x),
        sample=lambda m, k: m.distribution().sample(seed=k, sample_shape=batch),
        sample_and_log_prob=sample_and_log_prob,
        trainable=eqx.is_inexact_array,
        note="MaskedCoupling in a distrax.Chain (unrolled, no scan)",
    )


# ----------------------------------------------------------------------------- floor


class Floor(eqx.Module):
    """The conditioner matmuls of a case alone: no transformer, no log-det, no permutation.

    Each layer's MLP reads a slice of the previous layer's output, so the layers run in
    sequence as in a flow. For MAF sampling the MADE runs ``dim`` times per layer (the
    sequential inverse), with its masks already applied to the weights.
    """

    mlps: tuple[_DenseMLP, ...]
    in_size: int = eqx.field(static=True)
    sequential_steps: int = eqx.field(static=True)

    def run(self, x, steps: int = 1):
        h = x[..., : self.in_size]
        out = h
        for mlp in self.mlps:
            if steps == 1:
                out = mlp(h)
            else:
                out = jax.lax.fori_loop(
                    0, steps, lambda _, v, mlp=mlp: mlp(v)[..., : v.shape[-1]], h
                )
            h = out[..., : self.in_size]
        return out


def floor_subject(case: PeerCase, key) -> Subject:
    """The matmul floor of the case (see :class:`Floor`)."""
    if case.kind == "maf":
        in_size, out_size, steps = case.dim, case.dim * 2, case.dim
    else:
        p = 2 if case.kind == "affine" else 3 * case.num_bins - 1
        in_size, out_size, steps = case.dim // 2, (case.dim - case.dim // 2) * p, 1
    sizes = [in_size] + [case.width] * case.depth + [out_size]
    mlps = tuple(_dense_mlp(k, sizes) for k in jax.random.split(key, case.num_layers))
    model = Floor(mlps, in_size, steps)
    batch = case.batch
    dim = case.dim

    def noise(k):
        return jax.random.normal(k, (batch, dim))

    def sample(m, k):
        return m.run(noise(k), m.sequential_steps)

    return Subject(
        "floor",
        model,
        log_prob=lambda m, x: jnp.sum(m.run(x), axis=-1),
        sample=sample,
        sample_and_log_prob=lambda m, k: (lambda y: (y, jnp.sum(y, -1)))(sample(m, k)),
        trainable=eqx.is_inexact_array,
        note="conditioner matmuls only",
    )


BUILDERS: dict[str, Callable] = {
    "flowkit": flowkit_subject,
    "flowjax": flowjax_subject,
    "distrax": distrax_subject,
    "floor": floor_subject,
}
