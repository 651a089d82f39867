"""``flowkit bench``: time every flow, compare with flowjax and distrax, print the table."""

import argparse
import importlib
import sys
from pathlib import Path

from ._errors import UserError

CHECKOUT = Path(__file__).resolve().parents[2]
"""The repository holding this flowkit (its ``benchmarks/suite`` is the suite), if any."""


def add_bench_parser(commands) -> None:
    parser = commands.add_parser(
        "bench",
        help="benchmark every flow against flowjax/distrax (quick default: under 2 min on CPU)",
        description=(
            "Time log_prob, sample, sample_and_log_prob, a training step and compilation of "
            "every flowkit factory, the peer cases against flowjax, distrax-built flows and the "
            "matmul floor (ratios from the same run), and compile time against depth. Prints "
            "a markdown table; --out also writes bench.json, bench.md and bench.png."
        ),
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--full",
        action="store_true",
        help="everything: all factories and sizes, peer cases A-D, depths 4-32 (many minutes)",
    )
    size.add_argument(
        "--smoke",
        action="store_true",
        help="a seconds-long check that every part runs (tiny models; timings meaningless)",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for JSON, markdown, PNG")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed rounds (default: 5 quick, 7 full)"
    )
    parser.add_argument("--no-peers", action="store_true", help="skip flowjax/distrax/floor")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(run=run_bench_command)


def run_bench_command(args: argparse.Namespace) -> None:
    import dataclasses

    if args.repeats is not None and args.repeats < 1:
        raise UserError(f"--repeats must be >= 1; got {args.repeats}")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out must be a folder; {args.out} is a file")
    suite = _load_suite()
    config = (
        suite.smoke_config()
        if args.smoke
        else suite.full_config()
        if args.full
        else suite.quick_config()
    )
    if args.repeats is not None:
        config = dataclasses.replace(config, repeats=args.repeats)
    suite.run_bench(
        config=config,
        out_dir=args.out,
        peers=not args.no_peers,
        log=None if args.quiet else _log,
    )


def _load_suite():
    """``benchmarks.suite`` from the checkout this flowkit runs from.

    Raises:
        UserError: if flowkit runs from an installed wheel, which leaves the suite out.
    """
    where = CHECKOUT / "benchmarks" / "suite"
    if not (where / "__init__.py").is_file():
        raise UserError(
            f"the benchmark suite is not installed (no {where}): it lives in the repository; "
            'clone it, run pip install -e ".[bench]" there and run flowkit bench again.'
        )
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    return importlib.import_module("benchmarks.suite")


def _log(line: str) -> None:
    print(line, flush=True)
