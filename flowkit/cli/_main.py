"""Entry point of the ``flowkit`` console script.

User errors (unknown choices, bad paths, mismatched shapes) print one line and exit with
status 2; anything else is a bug and keeps its traceback.
"""

import argparse
import sys
from collections.abc import Sequence

from ._errors import UserError
from ._train import add_train_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowkit", description="Train, sample and benchmark normalizing flows in JAX."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except UserError as error:
        print(f"flowkit {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # python -m flowkit.cli._main
    sys.exit(main())
