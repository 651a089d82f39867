"""Multi-process (multi-host) runs with ``jax.distributed``: joining a run, and the local
launcher behind ``flowkit launch``."""

from ._env import process_env as process_env
from ._errors import DistributedError as DistributedError
from ._initialize import initialize as initialize
from ._launch import free_port as free_port
from ._launch import launch as launch

__all__ = ["DistributedError", "free_port", "initialize", "launch", "process_env"]
