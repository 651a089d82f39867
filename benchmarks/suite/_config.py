"""What a quick and a full run cover."""

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """Sizes, cases and repeats of one run (see :func:`quick_config` / :func:`full_config`).

    ``vector_sizes`` and ``image_sizes`` are ``(size, batch)`` pairs; ``ops`` are timed for
    every factory, ``peer_ops`` for every peer case; ``depth_factories`` get compile time
    at each of ``depths``.
    """

    name: str
    repeats: int
    factories: tuple[str, ...]
    vector_sizes: tuple[tuple[int, int], ...]
    image_sizes: tuple[tuple[tuple[int, int, int], int], ...]
    peer_cases: tuple[str, ...]
    depths: tuple[int, ...]
    depth_factories: tuple[str, ...]
    depth_dim: int = 64
    depth_batch: int = 256
    depth_image: tuple[int, int, int] = (16, 16, 3)
    depth_image_batch: int = 16
    compile_repeats: int = 1
    ops: tuple[str, ...] = ("log_prob", "sample", "sample_and_log_prob", "train")
    peer_ops: tuple[str, ...] = ("log_prob", "sample", "sample_and_log_prob", "train")
    depth_peers: bool = True  # flowjax's coupling flow beside flowkit's RealNVP
    factory_kwargs: tuple[tuple[str, Any], ...] = ()  # passed to every factory


ALL_FACTORIES = (
    "nice",
    "realnvp",
    "maf",
    "iaf",
    "nsf-coupling",
    "nsf-autoregressive",
    "glow",
    "realnvp-multiscale",
)


def quick_config() -> BenchConfig:
    """Under two minutes on a CPU: every vector factory at one size, case D against the peers,
    RealNVP's compile time at depths 4 and 32."""
    return BenchConfig(
        name="quick",
        repeats=5,
        factories=ALL_FACTORIES[:6],
        vector_sizes=((16, 256),),
        image_sizes=(),
        peer_cases=("D",),
        depths=(4, 32),
        depth_factories=("realnvp",),
        depth_peers=False,
    )


def full_config() -> BenchConfig:
    """Everything: all factories over dimensions and batch sizes, peer cases A-D, compile
    time over depths 4-32 for RealNVP, MAF and Glow (and flowjax's coupling flow)."""
    return BenchConfig(
        name="full",
        repeats=7,
        factories=ALL_FACTORIES,
        vector_sizes=((16, 256), (64, 256), (256, 256), (64, 1024)),
        image_sizes=(((8, 8, 3), 64), ((16, 16, 3), 16)),
        peer_cases=("A", "B", "C", "D"),
        depths=(4, 8, 16, 32),
        depth_factories=("realnvp", "maf", "glow"),
        depth_image=(8, 8, 3),
        compile_repeats=3,
    )


def smoke_config() -> BenchConfig:
    """Seconds: a tiny RealNVP (every operation, and its compile time at one depth) and the
    tiny peer case S (log_prob, sample and a train step with its compile rounds, every
    library); the RealNVP is case S's flowkit flow, so it is built once. It checks that
    every part of the suite runs; its timings mean nothing."""
    return BenchConfig(
        name="smoke",
        repeats=1,
        factories=("realnvp",),
        vector_sizes=((2, 8),),
        image_sizes=(),
        peer_cases=("S",),
        peer_ops=("log_prob", "sample", "train"),
        depths=(2,),
        depth_factories=("realnvp",),
        depth_dim=2,
        depth_batch=8,
        depth_peers=False,
        factory_kwargs=(("num_layers", 2), ("width", 8), ("depth", 1)),
    )
