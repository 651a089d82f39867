"""Timing and memory of jitted functions: compile apart, warm up, interleaved repeats.

On a shared machine the load changes from second to second. Functions compared with each
other are therefore timed in rounds, one call of each per round, and ratios are taken
round by round before the median: a burst of load slows both sides of a ratio alike.
"""

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass
class Compiled:
    """A function compiled for fixed arguments, with what compiling it cost."""

    name: str
    call: Callable[[], Any]
    lower_s: float
    compile_s: float
    temp_bytes: int | None
    peak_bytes: int | None
    compile_cpu_s: float = 0.0  # process CPU seconds of tracing, lowering and compiling
    out: Any = None  # the warm-up output, checked finite
    times_s: list[float] = dataclasses.field(default_factory=list)
    cpu_times_s: list[float] = dataclasses.field(default_factory=list)

    @property
    def first_call_s(self) -> float:
        """What a user waits before the first result: tracing, lowering and compiling."""
        return self.lower_s + self.compile_s

    @property
    def median_s(self) -> float:
        """Median wall-clock seconds per call over the timed repeats."""
        return statistics.median(self.times_s)

    @property
    def cpu_median_s(self) -> float:
        """Median process CPU seconds per call (all threads; not slowed by other processes)."""
        return statistics.median(self.cpu_times_s)


def memory_stats(compiled) -> tuple[int | None, int | None]:
    """``(temp_bytes, peak_bytes)`` from XLA's compiled memory analysis (None if absent)."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # a backend without the analysis
        return None, None
    if stats is None:
        return None, None
    temp = getattr(stats, "temp_size_in_bytes", None)
    peak = getattr(stats, "peak_memory_in_bytes", None) or None
    return temp, peak


def check_finite(name: str, out: Any) -> None:
    """Raise if any floating-point leaf of ``out`` has a NaN or infinity."""
    for leaf in jax.tree_util.tree_leaves(out):
        leaf = np.asarray(leaf)
        if jnp.issubdtype(leaf.dtype, jnp.floating) and not np.all(np.isfinite(leaf)):
            raise FloatingPointError(f"{name}: the output has non-finite values.")


def compile_fn(name: str, fn: Callable, *args) -> Compiled:
    """``jax.jit(fn)`` lowered and compiled for ``args`` (each stage timed), called once to
    warm up, and its output checked finite.

    ``args`` may hold Equinox modules: array leaves become inputs, the rest is static.
    """
    dynamic, static = eqx.partition(args, eqx.is_array)

    def run(dyn):
        return fn(*eqx.combine(dyn, static))

    start, cpu_start = time.perf_counter(), time.process_time()
    lowered = jax.jit(run).lower(dynamic)
    mid = time.perf_counter()
    compiled = lowered.compile()
    end, cpu_end = time.perf_counter(), time.process_time()
    temp, peak = memory_stats(compiled)
    result = Compiled(
        name, lambda: compiled(dynamic), mid - start, end - mid, temp, peak, cpu_end - cpu_start
    )
    result.out = jax.block_until_ready(result.call())
    check_finite(name, result.out)
    return result


def _time_once(call: Callable[[], Any], inner: int) -> tuple[float, float]:
    """Wall-clock and process CPU seconds per call, over ``inner`` calls."""
    start, cpu_start = time.perf_counter(), time.process_time()
    out = None
    for _ in range(inner):
        out = call()
    jax.block_until_ready(out)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return wall / inner, cpu / inner


def time_rounds(compiled: list[Compiled], repeats: int = 5, min_run_s: float = 0.02) -> None:
    """Time each function ``repeats`` times, in interleaved rounds; fills ``times_s``.

    A function faster than ``min_run_s`` is called in a loop and the mean per call kept,
    so timer resolution and dispatch jitter do not dominate microsecond calls.
    """
    inner = {}
    for c in compiled:
        once, _ = _time_once(c.call, 1)  # a second warm-up, which also sizes the loop
        inner[c.name] = max(1, min(1000, int(min_run_s / max(once, 1e-7))))
    for _ in range(max(repeats, 1)):
        for c in compiled:
            wall, cpu = _time_once(c.call, inner[c.name])
            c.times_s.append(wall)
            c.cpu_times_s.append(cpu)


def paired_ratio(a: Compiled, b: Compiled, cpu: bool = False) -> float:
    """Median over rounds of ``a``'s time over ``b``'s (both timed by the same rounds);
    ``cpu``: of their process CPU times."""
    ta, tb = (a.cpu_times_s, b.cpu_times_s) if cpu else (a.times_s, b.times_s)
    return statistics.median(x / y for x, y in zip(ta, tb, strict=True))


def paired_ratio_to_best(a: Compiled, others: list[Compiled], cpu: bool = False) -> float:
    """Median over rounds of ``a``'s time over the fastest of ``others`` in that round."""
    ta = a.cpu_times_s if cpu else a.times_s
    tb = [o.cpu_times_s if cpu else o.times_s for o in others]
    return statistics.median(x / min(ys) for x, *ys in zip(ta, *tb, strict=True))
