"""The three parts of a run: every factory, the peer cases, and the depth curves."""

import dataclasses
import statistics
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax

import flowkit as fk

from ._config import BenchConfig
from ._factories import FactorySpec, find
from ._peer_cases import BUILDERS, PeerCase, find_case, has_module
from ._report import OPS
from ._subject import Subject, init_opt_state, randomise, train_step
from ._timing import Compiled, compile_fn, paired_ratio, paired_ratio_to_best, time_rounds

Log = Callable[[str], None]


def _optimizer() -> optax.GradientTransformation:
    return optax.adam(1e-3)


def compile_op(subject: Subject, op: str, x, key) -> Compiled:
    """Compile one operation of ``subject`` on the batch ``x`` (or drawing with ``key``)."""
    name = f"{subject.library}:{op}"
    if op in ("log_prob", "sample", "sample_and_log_prob"):
        fn = getattr(subject, op)
        if fn is None:
            raise ValueError(f"{subject.library} has no {op}")
        return compile_fn(name, fn, subject.model, x if op == "log_prob" else key)
    if op == "train":
        opt = _optimizer()
        step = train_step(subject.loss, subject.trainable, opt)
        return compile_fn(name, step, subject.model, init_opt_state(subject, opt), x)
    raise ValueError(f"unknown operation {op!r}; expected one of {OPS}")


def flow_subject(flow: fk.Flow, batch: int, key) -> Subject:
    """A flowkit flow as a :class:`Subject` drawing ``batch`` samples, parameters randomised."""
    spec = fk.flows.trainable_filter(flow)
    flow = randomise(flow, spec, key)
    shape = (batch,)
    return Subject(
        "flowkit",
        flow,
        log_prob=lambda m, x: m.log_prob(x),
        sample=lambda m, k: m.sample(k, shape),
        sample_and_log_prob=lambda m, k: m.sample_and_log_prob(k, shape),
        trainable=spec,
    )


def _data(spec: FactorySpec, size, batch: int, key):
    if spec.kind == "vector":
        return jax.random.normal(key, (batch, size))
    return jax.random.uniform(key, (batch, *size), minval=0.02, maxval=0.98)


def _skip_reason(spec: FactorySpec) -> str | None:
    if spec.factory() is None:
        return f"flowkit.{spec.attr} is not in this build"
    return None


# ----------------------------------------------------------------------------- factories


def bench_factories(config: BenchConfig, log: Log) -> list[dict]:
    """Each factory at each size: the four operations timed (rounds interleaved) and their
    compile times."""
    rows = []
    key = jax.random.key(0)
    for label in config.factories:
        spec = find(label)
        reason = _skip_reason(spec)
        sizes = config.vector_sizes if spec.kind == "vector" else config.image_sizes
        if reason:
            log(f"  {label}: skipped ({reason})")
            rows.append({"factory": label, "status": "skipped", "reason": reason})
            continue
        for size, batch in sizes:
            row = {"factory": label, "size": size, "batch": batch, "status": "ok"}
            try:
                flow = spec.build(key, size, **dict(config.factory_kwargs))
                subject = flow_subject(flow, batch, jax.random.key(1))
                x = _data(spec, size, batch, jax.random.key(2))
                ops = config.ops
                compiled = [compile_op(subject, op, x, jax.random.key(3)) for op in ops]
            except Exception as error:  # a factory that cannot build here is reported
                row.update(status="error", reason=f"{type(error).__name__}: {error}"[:300])
                log(f"  {label} {size} x{batch}: error {row['reason']}")
                rows.append(row)
                continue
            time_rounds(compiled, config.repeats)
            row["num_params"] = subject.num_params
            for op, c in zip(ops, compiled, strict=True):
                row[op] = _timing_record(c)
            rows.append(row)
            log(
                f"  {label} {size} x{batch}: "
                + ", ".join(f"{op} {row[op]['median_ms']:.3g} ms" for op in ops)
            )
    return rows


def _timing_record(c: Compiled) -> dict:
    return {
        "median_ms": c.median_s * 1e3,
        "times_ms": [t * 1e3 for t in c.times_s],
        "first_call_s": c.first_call_s,
        "lower_s": c.lower_s,
        "compile_s": c.compile_s,
        "compile_cpu_s": c.compile_cpu_s,
        "temp_bytes": c.temp_bytes,
        "peak_bytes": c.peak_bytes,
    }


# ----------------------------------------------------------------------------- peers


def _check_agree(case: PeerCase, op: str, compiled: dict[str, Compiled]) -> None:
    """The flow libraries' outputs must have the same shapes (the floor is not a flow)."""
    shapes = {
        lib: [np.shape(leaf) for leaf in jax.tree_util.tree_leaves(c.out)]
        for lib, c in compiled.items()
        if lib != "floor"
    }
    if op == "train":  # parameters differ by library; compare the loss only
        shapes = {lib: s[-1:] for lib, s in shapes.items()}
    if len({tuple(s) for s in shapes.values()}) > 1:
        raise AssertionError(f"case {case.name} {op}: output shapes disagree: {shapes}")


def bench_peers(config: BenchConfig, log: Log) -> tuple[list[dict], list[dict]]:
    """Cases A-D with each installed library and the floor: times and same-run ratios.

    Returns (timing rows, parameter-count rows).
    """
    rows, params = [], []
    for case in map(find_case, config.peer_cases):
        key = jax.random.key(10)
        subjects: dict[str, Subject] = {}
        for lib, build in BUILDERS.items():
            if lib == "flowjax" and not has_module("flowjax"):
                log(f"  case {case.name}: flowjax not installed (pip install flowkit[bench])")
                continue
            subject = build(case, key)
            if subject is not None:
                subjects[lib] = subject
        counts = {lib: s.num_params for lib, s in subjects.items()}
        params.append({"case": case.name, "title": case.title, **counts})
        log(f"  case {case.name} ({case.title}); parameters: {counts}")
        x = jax.random.normal(jax.random.key(11), (case.batch, case.dim))
        for op in config.peer_ops:
            compiled = {
                lib: compile_op(s, op, x, jax.random.key(12)) for lib, s in subjects.items()
            }
            _check_agree(case, op, compiled)
            time_rounds(list(compiled.values()), config.repeats)
            row: dict[str, Any] = {"case": case.name, "op": op}
            for lib, c in compiled.items():
                row[lib] = _timing_record(c)
            fk_c = compiled["flowkit"]
            for other in ("flowjax", "distrax", "floor"):
                if other in compiled:
                    row[f"flowkit/{other}"] = paired_ratio(fk_c, compiled[other])
                    row[f"flowkit/{other} cpu"] = paired_ratio(fk_c, compiled[other], cpu=True)
            if "flowjax" in compiled and "floor" in compiled:
                row["flowjax/floor"] = paired_ratio(compiled["flowjax"], compiled["floor"])
            peers = [compiled[lib] for lib in ("flowjax", "distrax") if lib in compiled]
            if peers:
                row["best peer"] = min(peers, key=lambda c: c.median_s).name.split(":")[0]
                row["flowkit/best"] = paired_ratio_to_best(fk_c, peers)
                row["flowkit/best cpu"] = paired_ratio_to_best(fk_c, peers, cpu=True)
            if op == "train":
                libs = {lib: s for lib, s in subjects.items() if lib != "floor"}
                row["compile"] = _compile_rounds(libs, op, x, config.compile_repeats)
            rows.append(row)
            ratios = {k: round(v, 3) for k, v in row.items() if "/" in k}
            times = {lib: round(c.median_s * 1e3, 3) for lib, c in compiled.items()}
            log(f"    {op}: ms {times}; ratios {ratios}")
    return rows, params


def _compile_rounds(subjects: dict[str, Subject], op: str, x, repeats: int) -> dict:
    """Compile ``op`` of every library ``repeats`` more times, in interleaved rounds whose
    order rotates (no library always first or last): median wall and CPU seconds each.

    Each compile traces a new function; the first compile of the section (timed above, and
    always flowkit's) is left out, since it alone pays for warming JAX's own caches.
    """
    libs = list(subjects)
    wall: dict[str, list[float]] = {lib: [] for lib in libs}
    cpu: dict[str, list[float]] = {lib: [] for lib in libs}
    for i in range(repeats):
        for lib in libs[i % len(libs) :] + libs[: i % len(libs)]:
            c = compile_op(subjects[lib], op, x, jax.random.key(12))
            wall[lib].append(c.first_call_s)
            cpu[lib].append(c.compile_cpu_s)
    return {
        lib: {"wall_s": statistics.median(wall[lib]), "cpu_s": statistics.median(cpu[lib])}
        for lib in libs
    }


# ----------------------------------------------------------------------------- depth


def _compile_median(build: Callable[[], Compiled], repeats: int) -> dict:
    """Compile ``repeats`` times: median wall and CPU seconds, and the last result.

    Each build traces a new function, so nothing is reused from an earlier compile but the
    small helpers JAX itself caches (warmed by the first depth's untimed compile).
    """
    results = [build() for _ in range(max(repeats, 1))]
    return {
        "wall_s": statistics.median(c.first_call_s for c in results),
        "cpu_s": statistics.median(c.compile_cpu_s for c in results),
        "last": results[-1],
    }


def _depth_row(subject: Subject, x, config: BenchConfig, **fields) -> dict:
    """Compile time of log_prob and of a training step (wall and process CPU seconds)."""
    row: dict[str, Any] = {"library": subject.library, **fields}
    for op in ("log_prob", "train"):
        m = _compile_median(lambda op=op: compile_op(subject, op, x, None), config.compile_repeats)
        row[f"compile_{op}_s"] = m["wall_s"]
        row[f"compile_{op}_cpu_s"] = m["cpu_s"]
        if op == "train":  # a by-product; the memory curves are memory_backprop.py's
            row["train_temp_bytes"] = m["last"].temp_bytes
    row.update(num_params=subject.num_params, status="ok")
    return row


def _log_depth(log: Log, row: dict) -> None:
    log(
        f"  {row['factory']} ({row['library']}) depth {row['depth']}: compile log_prob "
        f"{row['compile_log_prob_s']:.2f} s ({row['compile_log_prob_cpu_s']:.2f} s CPU), train "
        f"{row['compile_train_s']:.2f} s ({row['compile_train_cpu_s']:.2f} s CPU)"
    )


def bench_depth(config: BenchConfig, log: Log) -> list[dict]:
    """Compile time (log_prob and training step) against depth, for flowkit's
    ``depth_factories`` and (with ``depth_peers``) flowjax's coupling flow beside RealNVP.

    Training-step memory against depth is ``benchmarks/memory_backprop.py``'s."""
    rows = []
    for label in config.depth_factories:
        spec = find(label)
        reason = _skip_reason(spec)
        if reason:
            log(f"  {label}: skipped ({reason})")
            rows.append({"factory": label, "status": "skipped", "reason": reason})
            continue
        image = spec.kind == "image"
        size = config.depth_image if image else config.depth_dim
        batch = config.depth_image_batch if image else config.depth_batch
        x = _data(spec, size, batch, jax.random.key(2))
        for i, depth in enumerate(config.depths):
            flow = spec.build(jax.random.key(0), size, depth, **dict(config.factory_kwargs))
            subject = flow_subject(flow, batch, jax.random.key(1))
            if i == 0 and len(config.depths) > 1:  # warm JAX's caches: the first depth is
                # then not charged for what later ones reuse
                _depth_row(subject, x, dataclasses.replace(config, compile_repeats=1))
            fields = dict(factory=label, depth=depth, size=size, batch=batch)
            rows.append(_depth_row(subject, x, config, **fields))
            _log_depth(log, rows[-1])
    if "realnvp" in config.depth_factories and config.depth_peers and has_module("flowjax"):
        x = jax.random.normal(jax.random.key(2), (config.depth_batch, config.depth_dim))
        for i, depth in enumerate(config.depths):  # flowjax's coupling flow, scan-stacked too
            case = PeerCase("depth", "", "affine", config.depth_dim, depth, 64, 2, x.shape[0])
            subject = BUILDERS["flowjax"](case, jax.random.key(0))
            if i == 0 and len(config.depths) > 1:
                _depth_row(subject, x, dataclasses.replace(config, compile_repeats=1))
            fields = dict(factory="realnvp", depth=depth, size=case.dim, batch=case.batch)
            rows.append(_depth_row(subject, x, config, **fields))
            _log_depth(log, rows[-1])
    return rows
