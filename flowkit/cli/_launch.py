"""``flowkit launch``: run a flowkit command as N local processes joined by jax.distributed,
and the start of every ``flowkit`` process that such a launch (or a cluster) runs."""

import argparse
import os
import sys
from pathlib import Path

from ._errors import UserError

FLOWKIT = "import sys; from flowkit.cli import main; sys.exit(main())"  # python -c: flowkit


def add_launch_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``flowkit launch`` (a command as several local processes) to the CLI.

    Args:
        commands: the main parser's subcommands.
    """
    parser = commands.add_parser(
        "launch",
        help="run a flowkit command (or a Python script) as N local processes joined by "
        "jax.distributed over 127.0.0.1, e.g. launch -n 2 --devices-per-process 4 -- train",
    )
    parser.add_argument("-n", "--num-processes", type=int, default=2, help="processes")
    parser.add_argument(
        "--devices-per-process",
        type=int,
        default=None,
        help="fake CPU devices per process (on GPUs: device ids i*d..i*d+d-1 of process i)",
    )
    parser.add_argument("--port", type=int, default=None, help="coordinator port (default: free)")
    parser.add_argument(
        "--heartbeat-timeout",
        type=int,
        default=None,
        help="seconds without heartbeats before a process counts as dead (default 30)",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="after --: a flowkit command (train ...) or a Python script (job.py ...)",
    )
    parser.set_defaults(run=run_launch)


def _argv(command: list[str]) -> list[str]:
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UserError("no command to launch; e.g. flowkit launch -n 2 -- train --epochs 1")
    if command[0].endswith(".py"):
        if not Path(command[0]).is_file():
            raise UserError(f"no such script: {command[0]}")
        return [sys.executable, *command]
    return [sys.executable, "-c", FLOWKIT, *command]


def run_launch(args: argparse.Namespace) -> None:
    """Run ``flowkit launch`` and exit with the launched processes' status.

    Args:
        args: the parsed ``flowkit launch`` arguments.

    Raises:
        UserError: for a count < 1, no command, or a script that does not exist.
    """
    from ..distributed import launch

    if args.num_processes < 1 or (args.devices_per_process or 1) < 1:
        raise UserError(
            f"-n and --devices-per-process must be >= 1; got {args.num_processes} and "
            f"{args.devices_per_process}"
        )
    code = launch(
        _argv(args.command),
        args.num_processes,
        devices_per_process=args.devices_per_process,
        port=args.port,
        heartbeat_timeout=args.heartbeat_timeout,
    )
    if code:
        print(f"flowkit launch: a process failed (exit status {code}); ended all", file=sys.stderr)
        sys.exit(code)


def join_launched_run() -> None:
    """Join the multi-process run this process belongs to, if any: ``FLOWKIT_*`` variables
    set by ``flowkit launch`` (or by hand), or, with ``FLOWKIT_DISTRIBUTED=auto``, JAX's own
    detection (SLURM, Cloud TPU). A wrong configuration prints one line and exits with 2."""
    from ..distributed import DistributedError, _env, initialize

    auto = os.environ.get("FLOWKIT_DISTRIBUTED", "").lower() == "auto"
    keys = (_env.COORDINATOR, _env.NUM_PROCESSES, _env.PROCESS_ID)
    if not auto and not any(os.environ.get(k) for k in keys):
        return
    try:
        initialize(detect=auto)
    except DistributedError as error:
        print(f"flowkit: error: {error}", file=sys.stderr)
        sys.exit(2)
