"""``flowkit sample``: draw from a trained flow (a run directory's best model by default)."""

import argparse
import sys
from pathlib import Path

import jax

import flowkit as fk
from flowkit.io._write import WriteError, check_writable_target, describe

from ._errors import UserError
from ._figures import samples_figure
from ._run_files import MODEL_FILES, model_file


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the model to read: a run directory (its best model, or ``--which last``) or a file.

    Args:
        parser: a subcommand's parser.
    """
    parser.add_argument("path", type=Path, metavar="DIR|FILE", help="run directory or .flowkit")
    parser.add_argument(
        "--which", default="best", choices=MODEL_FILES, help="model of a run directory"
    )


def add_sample_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``flowkit sample`` (a figure of samples from a saved model) to the CLI.

    Args:
        commands: the main parser's subcommands.
    """
    parser = commands.add_parser(
        "sample",
        help="draw samples from a trained flow into a figure",
        description="Draw samples: an image grid for image data, samples over the density "
        "for 2-D data, otherwise an .npy file.",
    )
    add_model_arguments(parser)
    parser.add_argument("--num", type=int, default=64, help="number of samples")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=None, help="PNG path")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run_sample)


def _check_out(out: Path) -> None:
    """Make ``out``'s folder; a :class:`UserError` (one line) when a figure cannot go there."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        check_writable_target(out)
    except WriteError as error:
        raise UserError(str(error)) from None
    except OSError as error:  # mkdir: a parent is a file, permission, ...
        cause = "a parent of it is not a directory" if isinstance(error, FileExistsError) else None
        raise UserError(f"cannot write {out}: {cause or describe(error)}") from None


def run_sample(args: argparse.Namespace) -> None:
    """Run ``flowkit sample``: write a figure of samples beside the model (or to ``--out``).

    Args:
        args: the parsed ``flowkit sample`` arguments.

    Raises:
        UserError: for ``--num < 1``, ``--temperature <= 0`` or an unwritable figure path.
    """
    if args.num < 1 or args.temperature <= 0:
        raise UserError(
            f"--num must be >= 1 and --temperature > 0; got {args.num} and {args.temperature}"
        )
    file, info = model_file(args.path, args.which)
    flow = fk.load(file)
    folder = args.path if args.path.is_dir() else file.parent
    out = args.out or folder / f"samples-T{args.temperature:g}.png"
    _check_out(out)
    key = jax.random.key(args.seed)
    written = samples_figure(out, flow, key, info, num=args.num, temperature=args.temperature)
    print(f"wrote {written} ({args.num} samples of {file})", file=sys.stderr)
