"""``flowkit eval``: test NLL or bits/dim of a trained flow, with robust statistics."""

import argparse
import json
import sys

import flowkit as fk
from flowkit.data import ArrayDataset, NoSplitError, load_dataset

from ._data import shaped_for
from ._errors import UserError
from ._run_files import model_file
from ._sample import add_model_arguments


def add_eval_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``flowkit eval`` (score a saved model on data) to the CLI.

    Args:
        commands: the main parser's subcommands.
    """
    parser = commands.add_parser(
        "eval",
        help="evaluate a trained flow on a data split (mean +/- s.e., median, 1%%/99%%)",
        description="Score a data split under a trained flow: bits/dim for images, NLL in "
        "nats otherwise; mean +/- standard error, median, 1st/99th percentiles, the worst "
        "examples and the count of non-finite scores.",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--data",
        default=None,
        help="data set name or path to score (default: the run's data); a file of one split "
        "(an .npz with x, data or images) is scored whole",
    )
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--draws", type=int, default=1, help="dequantization draws (images)")
    parser.add_argument("--seed", type=int, default=0, help="dequantization seed")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run_eval)


def _data_to_score(args: argparse.Namespace, file, info: dict) -> tuple[ArrayDataset, str]:
    """The data ``flowkit eval`` scores and the split it came from: ``--data`` (a file of
    training data only is scored whole), else the split of the data set the run recorded."""
    name = args.data or info.get("data")
    if name is None:
        raise UserError(f"{file} does not record its data set; pass --data NAME|PATH")
    try:
        return load_dataset(name, args.split), args.split
    except NoSplitError:
        if args.data is None:
            raise UserError(
                f"{name} (the data {file} was trained on) has no {args.split} split; score "
                f"held-out data with: flowkit eval {args.path} --data FILE (an .npz with x, "
                "or x_test)"
            ) from None
        if args.split != "test":
            raise
    return load_dataset(name, "train"), "train"  # a file of one split, given to be scored


def run_eval(args: argparse.Namespace) -> None:
    """Run ``flowkit eval``: print (or, with ``--json``, dump) the model's score on the data.

    Args:
        args: the parsed ``flowkit eval`` arguments.

    Raises:
        UserError: for ``--draws < 1``, draws on continuous data, or data the run did not
            record.
    """
    file, info = model_file(args.path, args.which)
    flow = fk.load(file)  # first: a damaged file reports its own problem
    if args.draws < 1:
        raise UserError(f"--draws must be >= 1; got {args.draws}")
    raw, split = _data_to_score(args, file, info)
    name = args.data or info.get("data")
    data = shaped_for(raw, tuple(flow.shape))
    if data.num_levels is None and args.draws > 1:
        raise UserError(f"--draws {args.draws} needs pixel data to dequantize; {name} is not")
    result = fk.evaluate(flow, data, seed=args.seed, num_draws=args.draws)
    if args.json:
        print(
            json.dumps(
                {"model": str(file), "data": str(name), "split": split, **result.to_dict()},
                indent=2,
            )
        )
        return
    print(f"{file} on {name} ({split}, {result.num_examples} examples):")
    print(f"  {result.metric}: {result.mean:.4f} +/- {result.stderr:.4f} (mean +/- s.e.)")
    print(f"  median {result.median:.4f}, 1% {result.p01:.4f}, 99% {result.p99:.4f}")
    print(f"  worst examples: {[int(i) for i in result.worst]}")
    print(f"  non-finite: {result.num_nonfinite}", file=sys.stdout)
