"""The benchmark suite behind ``flowkit bench`` and ``benchmarks/run_suite.py``.

It lives in the repository, not in the wheel: the peers' models (flowjax, distrax-built
couplings) are benchmark code, not flowkit. ``flowkit bench`` finds it next to the package
in a checkout (see ``flowkit/cli/_bench.py``).
"""

from ._config import BenchConfig as BenchConfig
from ._config import full_config as full_config
from ._config import quick_config as quick_config
from ._config import smoke_config as smoke_config
from ._run import run_bench as run_bench
