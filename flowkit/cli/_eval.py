"""``flowkit eval``: test NLL or bits/dim of a trained flow, with robust statistics."""

import argparse
import json
import sys

import flowkit as fk
from flowkit.data import load_dataset

from ._data import shaped_for
from ._errors import UserError
from ._run_files import model_file
from ._sample import add_model_arguments


def add_eval_parser(commands) -> None:
    parser = commands.add_parser(
        "eval",
        help="evaluate a trained flow on a data split (mean +/- s.e., median, 1%%/99%%)",
        description="Score a data split under a trained flow: bits/dim for images, NLL in "
        "nats otherwise; mean +/- standard error, median, 1st/99th percentiles, the worst "
        "examples and the count of non-finite scores.",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--data", default=None, help="data set name or path (default: the run's data)"
    )
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--draws", type=int, default=1, help="dequantization draws (images)")
    parser.add_argument("--seed", type=int, default=0, help="dequantization seed")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace) -> None:
    file, info = model_file(args.path, args.which)
    name = args.data or info.get("data")
    if name is None:
        raise UserError(f"{file} does not record its data set; pass --data NAME|PATH")
    if args.draws < 1:
        raise UserError(f"--draws must be >= 1; got {args.draws}")
    flow = fk.load(file)
    data = shaped_for(load_dataset(name, args.split), tuple(flow.shape))
    if data.num_levels is None and args.draws > 1:
        raise UserError(f"--draws {args.draws} needs pixel data to dequantize; {name} is not")
    result = fk.evaluate(flow, data, seed=args.seed, num_draws=args.draws)
    if args.json:
        print(
            json.dumps(
                {"model": str(file), "data": str(name), "split": args.split, **result.to_dict()},
                indent=2,
            )
        )
        return
    print(f"{file} on {name} ({args.split}, {result.num_examples} examples):")
    print(f"  {result.metric}: {result.mean:.4f} +/- {result.stderr:.4f} (mean +/- s.e.)")
    print(f"  median {result.median:.4f}, 1% {result.p01:.4f}, 99% {result.p99:.4f}")
    print(f"  worst examples: {[int(i) for i in result.worst]}")
    print(f"  non-finite: {result.num_nonfinite}", file=sys.stdout)
