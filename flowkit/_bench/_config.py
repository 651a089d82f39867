"""What a quick and a full run cover."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """Sizes, cases and repeats of one run (see :func:`quick_config` / :func:`full_config`).

    ``vector_sizes`` and ``image_sizes`` are ``(size, batch)`` pairs; ``depth_factories`` get
    compile time and training-step memory at each of ``depths``.
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
    """About a minute on a laptop CPU: every vector factory at one size, case D against the
    peers, compile time and memory at depths 4 and 32 for RealNVP."""
    return BenchConfig(
        name="quick",
        repeats=5,
        factories=ALL_FACTORIES[:6],
        vector_sizes=((16, 256),),
        image_sizes=(),
        peer_cases=("D",),
        depths=(4, 32),
        depth_factories=("realnvp",),
    )


def full_config() -> BenchConfig:
    """Everything: all factories over dimensions and batch sizes, peer cases A-D, compile and
    memory curves over depths 4-32 for several factories."""
    return BenchConfig(
        name="full",
        repeats=9,
        factories=ALL_FACTORIES,
        vector_sizes=((2, 256), (16, 256), (64, 256), (256, 256), (64, 64), (64, 1024)),
        image_sizes=(((8, 8, 3), 64), ((16, 16, 3), 16)),
        peer_cases=("A", "B", "C", "D"),
        depths=(4, 8, 16, 32),
        depth_factories=("realnvp", "maf", "nsf-coupling", "glow"),
        compile_repeats=3,
    )


def smoke_config() -> BenchConfig:
    """Seconds: RealNVP at a tiny size, the tiny peer case S, depths 2 and 4. It checks that
    every part of the suite runs; its timings mean nothing."""
    return BenchConfig(
        name="smoke",
        repeats=1,
        factories=("realnvp",),
        vector_sizes=((4, 8),),
        image_sizes=(),
        peer_cases=("S",),
        depths=(2, 4),
        depth_factories=("realnvp",),
        depth_dim=4,
        depth_batch=8,
    )
