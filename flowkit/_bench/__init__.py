"""The benchmark suite behind ``flowkit bench`` (private: the CLI and benchmarks/ use it).

It lives inside the package so ``flowkit bench`` works from a normal install; the full-run
scripts and the committed results are in the repository's ``benchmarks/`` folder.
"""

from ._config import BenchConfig as BenchConfig
from ._config import full_config as full_config
from ._config import quick_config as quick_config
from ._config import smoke_config as smoke_config
from ._run import run_bench as run_bench
