"""Targets, the markdown tables, and the run's metadata."""

import os
import platform
import sys
from importlib import metadata

import jax

OPS = ("log_prob", "sample", "sample_and_log_prob", "train")
PACKAGES = ("flowkit", "jax", "jaxlib", "equinox", "optax", "distrax", "flowjax", "numpy")


def environment() -> dict:
    """Versions, device and flags of this run."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    device = jax.devices()[0]
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": f"{device.platform}: {getattr(device, 'device_kind', '?')}",
        "device_count": jax.device_count(),
        "versions": versions,
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "jax_enable_x64": bool(getattr(jax.config, "jax_enable_x64", False)),
        "jax_default_matmul_precision": str(
            getattr(jax.config, "jax_default_matmul_precision", None)
        ),
    }


BEST_PEER_LIMIT = 0.95  # flowkit's time over the faster of flowjax and distrax, every cell
COMPILE_LIMIT = 1.0  # flowkit's train-step compile over the fastest peer's


def targets(peers: list[dict], depth: list[dict]) -> list[dict]:
    """Each target of the suite with its measured figure (ratios from the same run).

    A time target is met when both the wall-clock ratio and the ratio of process CPU times
    (which other processes on a shared machine do not inflate) are within the limit; the
    same holds for compile times (median of interleaved compiles).
    """
    out = []
    for row in peers:
        case, op = row["case"], row["op"]
        if case not in ("A", "B", "C", "D"):  # the smoke case S has no targets
            continue
        if "flowkit/best" in row:
            name = f"{case} {op}: flowkit / best peer ({row['best peer']})"
            out.append(_target(name, row["flowkit/best"], BEST_PEER_LIMIT, row["flowkit/best cpu"]))
        if "compile" in row:
            times = row["compile"]
            others = {lib: t for lib, t in times.items() if lib != "flowkit"}
            if others:
                best = min(others, key=lambda lib: others[lib]["cpu_s"])
                name = f"{case} {op} compile: flowkit / fastest peer ({best}; CPU, wall)"
                fk_times, peer = times["flowkit"], others[best]
                cpu = fk_times["cpu_s"] / peer["cpu_s"]
                wall = fk_times["wall_s"] / min(t["wall_s"] for t in others.values())
                out.append(_target(name, cpu, COMPILE_LIMIT, wall))
    for library in ("flowkit", "flowjax"):
        rows = {
            r["depth"]: r
            for r in depth
            if r.get("factory") == "realnvp"
            and r.get("library") == library
            and r.get("status") == "ok"
        }
        if 4 in rows and 32 in rows:
            for what in ("log_prob", "train"):
                cpu = rows[32][f"compile_{what}_cpu_s"] / rows[4][f"compile_{what}_cpu_s"]
                wall = rows[32][f"compile_{what}_s"] / rows[4][f"compile_{what}_s"]
                name = f"realnvp compile {what}: depth 32 / depth 4 ({library}; CPU, wall)"
                out.append(_target(name, cpu, 1.3 if library == "flowkit" else None, wall))
    return out


def _target(name: str, value: float, limit: float | None, other: float | None = None) -> dict:
    """``met`` needs ``value`` and the figure beside it (``other``, where given) within
    ``limit``; None for a reference row without a limit."""
    met = None if limit is None else bool(value <= limit and (other is None or other <= limit))
    return {"target": name, "value": value, "other": other, "limit": limit, "met": met}


def _ms(record: dict | None) -> str:
    return "" if record is None else f"{record['median_ms']:.3g}"


def _first(record: dict | None) -> str:
    return "" if record is None else f"{record['first_call_s']:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(result: dict) -> str:
    """The whole run as markdown: metadata, peers, parameters, factories, depth, targets."""
    env = result["environment"]
    parts = [
        f"## flowkit bench ({result['config']['name']}), {result['started']}",
        f"Device {env['device']} x{env['device_count']}, {env['cpu_count']} CPUs, "
        f"Python {env['python']}, "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
        + f". XLA_FLAGS={env['XLA_FLAGS']!r}. Times: median ms of {result['config']['repeats']}"
        " interleaved rounds; ratios: median of per-round ratios (same run). "
        "Compile: trace + lower + XLA compile, seconds.",
    ]
    if result["peers"]:
        libs = ("flowkit", "flowjax", "distrax", "floor")
        rows = []
        for r in result["peers"]:
            ratios = [
                f"{r[k]:.2f}" if k in r else ""
                for k in (
                    "flowkit/best",
                    "flowkit/best cpu",
                    "flowkit/flowjax",
                    "flowkit/flowjax cpu",
                    "flowkit/distrax",
                    "flowkit/distrax cpu",
                    "flowkit/floor",
                    "flowkit/floor cpu",
                    "flowjax/floor",
                )
            ]
            rows.append([r["case"], r["op"]] + [_ms(r.get(lib)) for lib in libs] + ratios)
        header = [
            "case",
            "op",
            "flowkit ms",
            "flowjax ms",
            "distrax ms",
            "floor ms",
            "fk/best",
            "fk/best CPU",
            "fk/fj",
            "fk/fj CPU",
            "fk/dx",
            "fk/dx CPU",
            "fk/floor",
            "fk/floor CPU",
            "fj/floor",
        ]
        parts += ["### Peers (cases A-D)", _table(header, rows)]
        first = [
            [r["case"], r["op"]]
            + [f"{r[lib]['first_call_s']:.2f}" if lib in r else "" for lib in libs[:3]]
            for r in result["peers"]
        ]
        parts += [
            "Compile (first call) seconds (flowkit's always first, so it alone warms JAX's "
            "caches):",
            _table(["case", "op", "flowkit", "flowjax", "distrax"], first),
        ]
        rounds = [r for r in result["peers"] if "compile" in r]
        if rounds:
            crow = [
                [r["case"], r["op"]]
                + [
                    f"{r['compile'][lib]['cpu_s']:.2f} / {r['compile'][lib]['wall_s']:.2f}"
                    if lib in r["compile"]
                    else ""
                    for lib in libs[:3]
                ]
                for r in rounds
            ]
            parts += [
                f"Compile, median of {result['config']['compile_repeats']} interleaved "
                "compiles after the first, seconds (CPU / wall):",
                _table(["case", "op", "flowkit", "flowjax", "distrax"], crow),
            ]
        prow = [
            [p["case"], p["title"]] + [str(p.get(lib, "")) for lib in libs]
            for p in result["peer_params"]
        ]
        parts += [
            "Trainable parameters, side by side:",
            _table(["case", "architecture", *libs], prow),
        ]
    if result["factories"]:
        rows = []
        for r in result["factories"]:
            if r["status"] != "ok":
                rows.append(
                    [r["factory"], "", "", r["status"] + ": " + r.get("reason", "")[:80]] + [""] * 6
                )
                continue
            rows.append(
                [r["factory"], str(r["size"]), str(r["batch"]), str(r["num_params"])]
                + [_ms(r.get(op)) for op in OPS]
                + [_first(r.get("log_prob")), _first(r.get("train"))]
            )
        header = [
            "factory",
            "size",
            "batch",
            "params",
            "log_prob ms",
            "sample ms",
            "sample+lp ms",
            "train ms",
            "compile lp s",
            "compile train s",
        ]
        parts += ["### Every factory", _table(header, rows)]
    if result["depth"]:
        parts += [
            "### Compile time against depth (trace + lower + compile, median of "
            f"{result['config']['compile_repeats']} after a warm-up; x: over the shallowest)",
            _depth_table(result["depth"]),
        ]
    if result["targets"]:
        rows = [
            [
                t["target"],
                f"{t['value']:.2f}",
                "" if t.get("other") is None else f"{t['other']:.2f}",
                "" if t["limit"] is None else f"<= {t['limit']}",
                {True: "met", False: "missed", None: "(reference)"}[t["met"]],
            ]
            for t in result["targets"]
        ]
        header = ["target", "measured", "beside (CPU / wall)", "limit", ""]
        parts += ["### Targets", _table(header, rows)]
    return "\n\n".join(parts) + "\n"


def _depth_table(depth: list[dict]) -> str:
    """One row per (factory, library, depth): compile seconds (process CPU, wall) and their
    ratios to the shallowest depth."""
    rows, first = [], {}
    for r in depth:
        if r["status"] != "ok":
            rows.append([r["factory"], "", r["status"] + ": " + r.get("reason", "")] + [""] * 3)
            continue
        name = f"{r['factory']} ({r['library']})"
        base = first.setdefault(name, r)
        cells = []
        for op in ("log_prob", "train"):
            cpu, wall = r[f"compile_{op}_cpu_s"], r[f"compile_{op}_s"]
            cpu_x = cpu / base[f"compile_{op}_cpu_s"]
            wall_x = wall / base[f"compile_{op}_s"]
            cells.append(f"{cpu:.2f} ({cpu_x:.2f}x) / {wall:.2f} ({wall_x:.2f}x)")
        rows.append([name, str(r["depth"]), *cells, str(r["num_params"])])
    header = ["flow", "depth", "compile log_prob s CPU / wall", "compile train s CPU / wall"]
    return _table(header + ["params"], rows)
