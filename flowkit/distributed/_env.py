"""The environment variables by which ``flowkit launch`` (or a job script) configures each
process, read back by :func:`~flowkit.distributed.initialize`."""

import os

COORDINATOR = "FLOWKIT_COORDINATOR"
NUM_PROCESSES = "FLOWKIT_NUM_PROCESSES"
PROCESS_ID = "FLOWKIT_PROCESS_ID"
LOCAL_DEVICE_IDS = "FLOWKIT_LOCAL_DEVICE_IDS"
INIT_TIMEOUT = "FLOWKIT_INIT_TIMEOUT"
HEARTBEAT_TIMEOUT = "FLOWKIT_HEARTBEAT_TIMEOUT"
SHUTDOWN_TIMEOUT = "FLOWKIT_SHUTDOWN_TIMEOUT"

_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def process_env(
    process_id: int,
    num_processes: int,
    coordinator: str,
    *,
    devices_per_process: int | None = None,
    heartbeat_timeout: int | None = None,
    init_timeout: int | None = None,
    shutdown_timeout: int | None = None,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of process ``process_id`` of a local multi-process run.

    For starting the processes yourself; :func:`launch` uses it.

    Args:
        process_id: this process's id, in ``0 .. num_processes - 1``.
        num_processes: how many processes the run has.
        coordinator: ``HOST:PORT`` of process 0 (e.g. ``f"127.0.0.1:{free_port()}"``).
        devices_per_process: if given, that many fake CPU devices (``XLA_FLAGS``) and, on
            GPUs, device ids ``process_id * d .. process_id * d + d - 1``.
        heartbeat_timeout: seconds, passed on to :func:`initialize`.
        init_timeout: seconds, passed on to :func:`initialize`.
        shutdown_timeout: seconds, passed on to :func:`initialize`.
        base: the environment to start from; ``None`` takes ``os.environ``.

    Returns:
        ``base`` plus the ``FLOWKIT_*`` variables (a new dict).
    """
    env = dict(os.environ if base is None else base)
    env[COORDINATOR] = coordinator
    env[NUM_PROCESSES] = str(num_processes)
    env[PROCESS_ID] = str(process_id)
    if devices_per_process is not None:
        first = process_id * devices_per_process
        env[LOCAL_DEVICE_IDS] = ",".join(str(first + i) for i in range(devices_per_process))
        flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith(_DEVICE_FLAG)]
        env["XLA_FLAGS"] = " ".join([*flags, f"{_DEVICE_FLAG}={devices_per_process}"])
    for name, value in (
        (HEARTBEAT_TIMEOUT, heartbeat_timeout),
        (INIT_TIMEOUT, init_timeout),
        (SHUTDOWN_TIMEOUT, shutdown_timeout),
    ):
        if value is not None:
            env[name] = str(value)
    return env
