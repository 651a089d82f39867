"""``run_bench``: the entry point behind ``flowkit bench``."""

import json
import time
from collections.abc import Callable
from pathlib import Path

from ._config import BenchConfig, full_config, quick_config
from ._plot import plot
from ._report import environment, markdown, targets
from ._sections import bench_depth, bench_factories, bench_peers


def run_bench(
    quick: bool = True,
    out_dir: str | Path | None = None,
    *,
    peers: bool = True,
    config: BenchConfig | None = None,
    log: Callable[[str], None] | None = print,
    print_table: bool = True,
) -> dict:
    """Time every flowkit factory, compare with flowjax/distrax, and write the results.

    Args:
        quick: the quick run (under two minutes on CPU: vector factories at one size, peer
            case D, depths 4 and 32); False runs everything (cases A-D, all sizes, depths
            4, 8, 16, 32; many minutes).
        out_dir: where ``bench.json``, ``bench.md`` and ``bench.png`` go (None: nowhere).
        peers: include the peer cases (flowjax is skipped when not installed).
        config: an explicit :class:`BenchConfig`, overriding ``quick``.
        log: progress lines go here (None: silent).
        print_table: print the markdown table at the end.

    Returns the results as a dict (the JSON written to ``bench.json``).
    """
    if config is None:
        config = quick_config() if quick else full_config()
    say = log or (lambda _: None)
    start = time.time()
    result: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "config": config.__dict__,
        "environment": environment(),
    }
    say(f"flowkit bench ({config.name}) on {result['environment']['device']}")
    result["peers"], result["peer_params"], result["depth"], result["factories"] = [], [], [], []
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    # The targets' sections first; the JSON and markdown are rewritten after each (a long
    # run stopped early keeps what it measured, with its targets).
    if peers and config.peer_cases:
        say("peers:")
        result["peers"], result["peer_params"] = bench_peers(config, say)
        _write(out, result, start)
    say("compile time against depth:")
    result["depth"] = bench_depth(config, say)
    _write(out, result, start)
    say("factories:")
    result["factories"] = bench_factories(config, say)
    table = _write(out, result, start)
    if out is not None:
        png = plot(result, out / "bench.png")
        say(f"wrote {out / 'bench.json'}, {out / 'bench.md'}" + (f", {png}" if png else ""))
    if print_table:
        print(table)
    say(f"done in {result['elapsed_s']:.0f} s")
    return result


def _write(out: Path | None, result: dict, start: float) -> str:
    """Fill in the targets, elapsed time and markdown of what is measured so far, and write
    ``bench.json`` and ``bench.md`` to ``out`` (if given). Returns the markdown."""
    result["targets"] = targets(result["peers"], result["depth"])
    result["elapsed_s"] = time.time() - start
    result["markdown"] = markdown(result)
    if out is not None:
        (out / "bench.json").write_text(json.dumps(result, indent=1, default=_jsonable))
        (out / "bench.md").write_text(result["markdown"])
    return result["markdown"]


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    return str(value)
