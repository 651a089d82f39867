"""The error of a wrong multi-process configuration."""


class DistributedError(RuntimeError):
    """A multi-process run cannot start: bad process count or id, unreachable coordinator,
    or ``jax.distributed`` started too late. The message says how to fix it."""
