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


def targets(peers: list[dict], depth: list[dict]) -> list[dict]:
    """Each target of the suite with its measured figure (ratios from the same run)."""
    out = []
    for row in peers:
        case, op = row["case"], row["op"]
        if case in ("A", "B", "C") and op in ("log_prob", "sample", "train"):
            for other, limit in (("flowjax", 0.9), ("floor", 1.2)):
                if f"flowkit/{other}" in row:
                    out.append(
                        _target(f"{case} {op}: flowkit/{other}", row[f"flowkit/{other}"], limit)
                    )
        if case == "D" and "flowkit/flowjax" in row:
            out.append(_target(f"D {op} (overhead): flowkit/flowjax", row["flowkit/flowjax"], 0.8))
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
                ratio = rows[32][f"compile_{what}_s"] / rows[4][f"compile_{what}_s"]
                name = f"realnvp compile {what}: depth 32 / depth 4 ({library})"
                out.append(_target(name, ratio, 1.3 if library == "flowkit" else None))
    return out


def _target(name: str, value: float, limit: float | None) -> dict:
    met = None if limit is None else bool(value <= limit)
    return {"target": name, "value": value, "limit": limit, "met": met}


def _ms(record: dict | None) -> str:
    return "" if record is None else f"{record['median_ms']:.3g}"


def _mib(n) -> str:
    return "n/a" if n is None else f"{n / 2**20:.1f}"


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
                for k in ("flowkit/flowjax", "flowkit/distrax", "flowkit/floor", "flowjax/floor")
            ]
            rows.append([r["case"], r["op"]] + [_ms(r.get(lib)) for lib in libs] + ratios)
        header = [
            "case",
            "op",
            "flowkit ms",
            "flowjax ms",
            "distrax ms",
            "floor ms",
            "fk/fj",
            "fk/dx",
            "fk/floor",
            "fj/floor",
        ]
        parts += ["### Peers (cases A-D)", _table(header, rows)]
        first = [
            [r["case"], r["op"]]
            + [f"{r[lib]['first_call_s']:.2f}" if lib in r else "" for lib in libs[:3]]
            for r in result["peers"]
        ]
        parts += [
            "Compile (first call) seconds:",
            _table(["case", "op", "flowkit", "flowjax", "distrax"], first),
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
                + [_ms(r[op]) for op in OPS]
                + [f"{r['log_prob']['first_call_s']:.2f}", f"{r['train']['first_call_s']:.2f}"]
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
            "### Compile time against depth (seconds; x: over the shallowest depth)",
            _depth_table(result["depth"]),
        ]
    if result["targets"]:
        rows = [
            [
                t["target"],
                f"{t['value']:.2f}",
                "" if t["limit"] is None else f"<= {t['limit']}",
                {True: "met", False: "missed", None: "(reference)"}[t["met"]],
            ]
            for t in result["targets"]
        ]
        parts += ["### Targets", _table(["target", "measured", "limit", ""], rows)]
    return "\n\n".join(parts) + "\n"


def _depth_table(depth: list[dict]) -> str:
    """One row per (factory, library, depth): compile seconds and the ratio to the first depth."""
    rows, first = [], {}
    for r in depth:
        if r["status"] != "ok":
            rows.append([r["factory"], "", r["status"] + ": " + r.get("reason", "")] + [""] * 3)
            continue
        name = f"{r['factory']} ({r['library']})"
        base = first.setdefault(name, r)
        lp, tr = r["compile_log_prob_s"], r["compile_train_s"]
        rows.append(
            [
                name,
                str(r["depth"]),
                f"{lp:.2f} ({lp / base['compile_log_prob_s']:.2f}x)",
                f"{tr:.2f} ({tr / base['compile_train_s']:.2f}x)",
                str(r["num_params"]),
            ]
        )
    return _table(["flow", "depth", "compile log_prob s", "compile train s", "params"], rows)
