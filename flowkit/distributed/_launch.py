"""Run one command as N local processes joined by ``jax.distributed`` (loopback): what
``flowkit launch`` does, for tests and for trying a multi-host run on one machine."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

from ._env import process_env

# gloo prints "[Gloo] Rank 3 is connected to 7 peer ranks. Expected number of connected peer
# ranks is : 7" per device and peer group when collectives connect (sometimes two such lines
# interleaved): noise.
_GLOO_NOISE = re.compile(rb"is connected to \d+ peer ranks\. Expected number of connected")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it).

    Returns:
        The port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _forward(stream: IO[bytes], prefix: bytes, sink: IO[bytes], lock: threading.Lock) -> None:
    """Copy ``stream`` to ``sink`` line by line, each line (and each ``\\r`` segment of a
    progress bar) starting with ``prefix``."""
    for line in iter(stream.readline, b""):
        if _GLOO_NOISE.search(line):
            continue
        with lock:
            sink.write(prefix + line.replace(b"\r", b"\r" + prefix))
            sink.flush()
    stream.close()


def _end(process: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group of ``process`` (it and its workers), if alive."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass


def _exit_code(code: int) -> int:
    return 128 - code if code < 0 else code  # killed by signal s: 128 + s, as shells say


def launch(
    command: Sequence[str],
    num_processes: int,
    *,
    devices_per_process: int | None = None,
    port: int | None = None,
    heartbeat_timeout: int | None = None,
    init_timeout: int | None = None,
    shutdown_timeout: int | None = None,
    grace: float = 10.0,
    sink: IO[bytes] | None = None,
) -> int:
    """Run ``command`` (an argv list) as ``num_processes`` processes on this machine.

    Process ``i`` gets ``FLOWKIT_COORDINATOR=127.0.0.1:PORT``, ``FLOWKIT_NUM_PROCESSES``,
    ``FLOWKIT_PROCESS_ID=i`` and the given timeouts (:func:`process_env`), which
    :func:`~flowkit.distributed.initialize` reads. Each output line (stdout and stderr) is
    prefixed ``[i] ``. When one process fails, the others get SIGTERM, then SIGKILL after
    ``grace`` seconds. SIGINT and SIGTERM to the launcher end all processes.

    Args:
        command: the argv list each process runs.
        num_processes: how many processes to start (at least 1).
        devices_per_process: if given, that many fake CPU devices per process (and, on GPUs,
            device ids ``i*d .. i*d+d-1``).
        port: the coordinator's port; ``None`` picks a free one.
        heartbeat_timeout: seconds, passed on to :func:`initialize`.
        init_timeout: seconds, passed on to :func:`initialize`.
        shutdown_timeout: seconds, passed on to :func:`initialize`.
        grace: seconds between SIGTERM and SIGKILL for the others when one fails.
        sink: where the processes' output goes; ``None`` is this process's stdout.

    Returns:
        0 when all succeed, else the first failure's exit status (128 + signal for a killed
        process).

    Raises:
        ValueError: if ``num_processes < 1`` or ``command`` is empty.
    """
    if num_processes < 1:
        raise ValueError(f"launch: need at least 1 process; got {num_processes}.")
    if not command:
        raise ValueError("launch: no command to run.")
    sink = sys.stdout.buffer if sink is None else sink
    coordinator = f"127.0.0.1:{free_port() if port is None else port}"
    lock = threading.Lock()
    processes: list[subprocess.Popen] = []
    threads: list[threading.Thread] = []
    stop_signal: list[int] = []

    def on_signal(signum, frame):
        stop_signal.append(signum)

    previous = {
        s: signal.signal(s, on_signal)
        for s in (signal.SIGINT, signal.SIGTERM)
        if threading.current_thread() is threading.main_thread()
    }
    try:
        for i in range(num_processes):
            env = process_env(
                i,
                num_processes,
                coordinator,
                devices_per_process=devices_per_process,
                heartbeat_timeout=heartbeat_timeout,
                init_timeout=init_timeout,
                shutdown_timeout=shutdown_timeout,
            )
            env["PYTHONUNBUFFERED"] = "1"  # lines arrive as they are written
            process = subprocess.Popen(
                list(command),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: ended with its workers
            )
            processes.append(process)
            assert process.stdout is not None
            thread = threading.Thread(
                target=_forward, args=(process.stdout, f"[{i}] ".encode(), sink, lock)
            )
            thread.start()
            threads.append(thread)
        return _supervise(processes, grace, stop_signal)
    finally:
        for process in processes:
            _end(process, signal.SIGKILL)
            process.wait()
        for thread in threads:
            thread.join(timeout=5)
        for s, handler in previous.items():
            signal.signal(s, handler)


def _supervise(processes: list[subprocess.Popen], grace: float, stop_signal: list[int]) -> int:
    """Wait for all processes; on the first failure (or a signal) end the rest."""
    failure = None
    while failure is None and not stop_signal:
        codes = [p.poll() for p in processes]
        failed = [c for c in codes if c not in (None, 0)]
        if failed:
            failure = _exit_code(failed[0])
        elif all(c == 0 for c in codes):
            return 0
        else:
            time.sleep(0.05)
    if stop_signal:
        failure = 128 + stop_signal[0]
    for process in processes:
        _end(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
        time.sleep(0.05)
    assert failure is not None
    return failure
