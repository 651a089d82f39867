"""``flowkit train``: fit a flow and write its figures and metrics."""

import argparse
from pathlib import Path

from ._digits_demo import run_digits_demo
from ._errors import UserError


def add_train_parser(commands) -> None:
    parser = commands.add_parser(
        "train",
        help="train a flow (default: RealNVP on the embedded 8x8 digits, about a minute on CPU)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/digits-realnvp"),
        help="output folder for samples.png, loss.png and metrics.json",
    )
    parser.add_argument("--steps", type=int, default=1500, help="training steps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> None:
    if args.steps < 1 or args.batch_size < 1:
        raise UserError(
            f"--steps and --batch-size must be >= 1; got {args.steps} and {args.batch_size}"
        )
    run_digits_demo(args.out, steps=args.steps, batch_size=args.batch_size, seed=args.seed)
