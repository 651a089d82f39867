"""Entry point of the ``flowkit`` console script.

User errors (unknown choices, bad paths, mismatched shapes, unreadable data or model files, a
run directory already holding a run) print one line and exit with status 2; a run that cannot
go on (a file it cannot write, a diverged or non-finite run) prints one line and exits with
status 1; anything else is a bug and keeps its traceback.
"""

import argparse
import sys
import warnings
from collections.abc import Sequence

from flowkit.data import DataError
from flowkit.io import ModelFileError
from flowkit.io._write import WriteError
from flowkit.train import DivergenceError, NonFiniteError, RunDirError

from ._bench import add_bench_parser
from ._errors import UserError
from ._eval import add_eval_parser
from ._launch import add_launch_parser, join_launched_run
from ._sample import add_sample_parser
from ._train import add_train_parser


class _Parser(argparse.ArgumentParser):
    """argparse's usage errors as one line (a :class:`UserError`), like every other."""

    def error(self, message: str):  # pyright: ignore[reportIncompatibleMethodOverride]
        raise UserError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="flowkit", description="Train, sample, evaluate and benchmark normalizing flows."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(commands)
    add_launch_parser(commands)
    add_bench_parser(commands)
    add_sample_parser(commands)
    add_eval_parser(commands)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"flowkit: warning: {message}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except UserError as error:
        print(f"flowkit: error: {error}", file=sys.stderr)
        return 2
    # Multi-process runs: initialise jax.distributed from the environment here, before any
    # command touches a device (flowkit.distributed, issue 10).
    join_launched_run()
    try:
        with warnings.catch_warnings():
            # a warning on the command line is one line, not a source excerpt
            warnings.showwarning = _one_line_warning
            args.run(args)
    except (UserError, DataError, ModelFileError, RunDirError) as error:
        print(f"flowkit {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (WriteError, DivergenceError, NonFiniteError) as error:
        print(f"flowkit {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # python -m flowkit.cli._main
    sys.exit(main())
