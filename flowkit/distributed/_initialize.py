"""Joining a multi-process run: a wrapper of ``jax.distributed.initialize``."""

import errno
import os
import socket
import time
from collections.abc import Sequence

import jax

from . import _env
from ._errors import DistributedError

# JAX's defaults are 300 s to connect, 100 s without heartbeats before a process counts as
# dead and 300 s waiting for the others at exit; flowkit keeps the first and shortens the
# others so a run whose process died ends within about a minute instead of minutes.
INIT_TIMEOUT = 300
HEARTBEAT_TIMEOUT = 30
SHUTDOWN_TIMEOUT = 30


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None or text.strip() == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise DistributedError(f"{name}={text!r} is not an integer.") from None


def _cluster_detected() -> bool:
    """Whether JAX's own detection finds a cluster (Cloud TPU, SLURM, Open MPI, k8s) or
    ``JAX_COORDINATOR_ADDRESS`` is set: then ``jax.distributed.initialize()`` fills in
    coordinator, count and id by itself."""
    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        return True
    try:
        from jax._src import clusters  # JAX's detection (private; absent: no detection)

        kinds = clusters.ClusterEnv._cluster_types
        return any(not k.opt_in_only_method and k.is_env_present() for k in kinds)
    except Exception:  # noqa: BLE001 -- a changed private API means: nothing detected
        return False


def _check(
    coordinator: str | None, num_processes: int | None, process_id: int | None
) -> tuple[str, int, int]:
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise DistributedError(
            f"a multi-process run needs coordinator, num_processes and process_id; "
            f"{', '.join(missing)} not given (as arguments or {_env.COORDINATOR}, "
            f"{_env.NUM_PROCESSES}, {_env.PROCESS_ID}) and no cluster was detected."
        )
    assert coordinator is not None and num_processes is not None and process_id is not None
    if num_processes < 1:
        raise DistributedError(f"num_processes must be >= 1; got {num_processes}.")
    if not 0 <= process_id < num_processes:
        raise DistributedError(
            f"process id {process_id} is out of range for {num_processes} processes; "
            f"give each process a distinct id in 0..{num_processes - 1}."
        )
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit():
        raise DistributedError(
            f"coordinator {coordinator!r} is not HOST:PORT; use process 0's address and a "
            f"free port, e.g. 10.0.0.1:1234."
        )
    return coordinator, num_processes, process_id


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: Sequence[int] | None = None,
    init_timeout: int | None = None,
    heartbeat_timeout: int | None = None,
    shutdown_timeout: int | None = None,
    detect: bool = True,
) -> bool:
    """Join this process to a multi-process JAX run; call it first, before any JAX work.

    Coordinator (``HOST:PORT`` of process 0), process count and this process's id come from
    the arguments, else from ``FLOWKIT_COORDINATOR``, ``FLOWKIT_NUM_PROCESSES`` and
    ``FLOWKIT_PROCESS_ID`` (set by ``flowkit launch``), else from JAX's own detection
    (Cloud TPU pods, SLURM, Open MPI, ``JAX_COORDINATOR_ADDRESS``; ``detect=False`` skips
    it). With none of these, or one process, it does nothing: a single-process run. CPU
    collectives go over gloo.

    Calling it again once ``jax.distributed`` runs does nothing. Timeouts are in seconds,
    from the arguments, else ``FLOWKIT_INIT_TIMEOUT``, ``FLOWKIT_HEARTBEAT_TIMEOUT`` and
    ``FLOWKIT_SHUTDOWN_TIMEOUT``.

    Args:
        coordinator: ``HOST:PORT`` of process 0.
        num_processes: how many processes the run has.
        process_id: this process's id, in ``0 .. num_processes - 1``.
        local_device_ids: the devices this process uses (else ``FLOWKIT_LOCAL_DEVICE_IDS``,
            else all it sees).
        init_timeout: how long to wait to connect to the coordinator (default 300).
        heartbeat_timeout: a process silent that long counts as dead and the others stop
            with an error (default 30).
        shutdown_timeout: how long to wait for the others at exit (default 30).
        detect: whether to try JAX's cluster detection when nothing is configured.

    Returns:
        Whether ``jax.distributed`` runs (``False``: a single-process run).

    Raises:
        DistributedError: with a one-line reason for a wrong configuration or an unreachable
            coordinator.
    """
    if jax.distributed.is_initialized():
        return True
    coordinator = coordinator or os.environ.get(_env.COORDINATOR) or None
    num_processes = _env_int(_env.NUM_PROCESSES) if num_processes is None else num_processes
    process_id = _env_int(_env.PROCESS_ID) if process_id is None else process_id
    if local_device_ids is None and os.environ.get(_env.LOCAL_DEVICE_IDS):
        local_device_ids = [int(i) for i in os.environ[_env.LOCAL_DEVICE_IDS].split(",")]
    timeouts = {
        "initialization_timeout": init_timeout or _env_int(_env.INIT_TIMEOUT) or INIT_TIMEOUT,
        "heartbeat_timeout_seconds": heartbeat_timeout
        or _env_int(_env.HEARTBEAT_TIMEOUT)
        or HEARTBEAT_TIMEOUT,
        "shutdown_timeout_seconds": shutdown_timeout
        or _env_int(_env.SHUTDOWN_TIMEOUT)
        or SHUTDOWN_TIMEOUT,
    }
    nothing_given = coordinator is None and num_processes is None and process_id is None
    if nothing_given and not (detect and _cluster_detected()):
        return False
    if not nothing_given:
        address, count, index = _check(coordinator, num_processes, process_id)
        if count == 1:
            return False
        _reach(address, index, count, timeouts["initialization_timeout"])
    _start(coordinator, num_processes, process_id, local_device_ids, timeouts)
    return True


def _reach(coordinator: str, process_id: int, num_processes: int, timeout: float) -> None:
    """Process 0: the coordinator's port must be free to bind. Others: the coordinator must
    accept connections within ``timeout`` seconds. (JAX itself would abort the process
    with a C++ stack trace instead of raising.)"""
    host, _, port = coordinator.rpartition(":")
    host = host.strip("[]")
    if process_id == 0:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("0.0.0.0", int(port)))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    return  # e.g. no permission to test: let JAX try
                raise DistributedError(
                    f"process 0 cannot serve as coordinator on port {port} ({error.strerror}); "
                    f"choose a free port."
                ) from None
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise DistributedError(
                    f"process {process_id} of {num_processes} could not reach the coordinator "
                    f"at {coordinator} within {timeout:g} s ({error.strerror or error}); check "
                    f"that process 0 runs there and the address and port are reachable."
                ) from None
            time.sleep(0.2)


def _start(coordinator, num_processes, process_id, local_device_ids, timeouts) -> None:
    # gloo: cross-process collectives for CPU devices (without it a multi-process CPU run
    # fails at its first collective); GPUs and TPUs use their own and ignore this setting.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    where = f"process {process_id} of {num_processes}" if process_id is not None else "process"
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=num_processes,
            process_id=process_id,
            local_device_ids=local_device_ids,
            **timeouts,
        )
    except RuntimeError as error:
        if "must be called before" in str(error):
            raise DistributedError(
                "jax.distributed must start before any JAX computation or device query; "
                "call flowkit.distributed.initialize() at the very start of the program."
            ) from None
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DistributedError(
            f"{where} could not join the run at coordinator {coordinator} within "
            f"{timeouts['initialization_timeout']} s ({text[:200]}); check that process 0 "
            f"is running and its address and port are reachable."
        ) from None
