"""The whole benchmark suite (what ``flowkit bench --full`` runs), results into a folder.

Times log_prob, sample, sample_and_log_prob, one training step (NLL, grad, Adam update) and
compilation of every flowkit factory over sizes and batch sizes; peer cases A-D against
flowjax, distrax-built couplings and the matmul floor, as ratios measured in the same run;
compile time against depth 4-32. Writes bench.json, bench.md and bench.png.

    python benchmarks/run_suite.py                             # full, into benchmarks/results/cpu
    python benchmarks/run_suite.py --quick --out /tmp/bench    # the quick default of flowkit bench
"""

import argparse
from pathlib import Path

from suite import full_config, quick_config, run_bench  # benchmarks/suite, beside this file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick run instead of the full")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "cpu", help="folder"
    )
    parser.add_argument("--no-peers", action="store_true", help="skip the peer cases")
    args = parser.parse_args()
    config = quick_config() if args.quick else full_config()
    run_bench(config=config, out_dir=args.out, peers=not args.no_peers)


if __name__ == "__main__":
    main()
