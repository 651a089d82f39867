"""``flowkit train`` with a fault injected, for tests/test_run_faults.py (not collected).

``python tests/_train_job.py POINT ARGS...`` runs ``flowkit ARGS...`` and kills its own
process with SIGKILL at POINT: ``step:N`` (when step N's metrics are logged), ``checkpoint:N``
(inside the N-th checkpoint write, after orbax began its temporary folder), ``best:N`` (half
way through the N-th write of best.flowkit), ``history:N`` (after the N-th history.json),
``report`` (after training, before the figures), or ``none``.
"""

import os
import signal
import sys


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _countdown(n: int):
    calls = [0]

    def tick() -> bool:
        calls[0] += 1
        return calls[0] == n

    return tick


def _arm(point: str) -> None:
    from flowkit.cli import _train
    from flowkit.train import _metrics_log, _process_state, _run_dir

    kind, _, n = point.partition(":")
    due = _countdown(int(n or 1))
    if kind == "step":
        write = _metrics_log.MetricsLog.write

        def write_then_die(self, record):
            write(self, record)
            if record["step"] == int(n):
                _kill()

        _metrics_log.MetricsLog.write = write_then_die
    elif kind == "checkpoint":
        save = _process_state.ProcessStateHandler.save

        def die_in_checkpoint(self, directory, args):
            if due():
                _kill()
            return save(self, directory, args)

        _process_state.ProcessStateHandler.save = die_in_checkpoint
    elif kind in ("best", "history"):
        _arm_file_write(kind, due, _run_dir)
    elif kind == "report":
        _train._report = lambda *args: _kill()


def _arm_file_write(kind: str, due, run_dir) -> None:
    if kind == "best":
        save = run_dir.save

        def die_half_way(path, model, **kwargs):
            if path.name == "best.flowkit" and due():
                from flowkit.io import _write

                write = _write.atomic_write
                _write.atomic_write = lambda p, fn: write(p, lambda f: (f.write(b"half"), _kill()))
            return save(path, model, **kwargs)

        run_dir.save = die_half_way
    else:
        write_text = run_dir.atomic_write_text

        def die_after(path, text):
            write_text(path, text)
            if due():
                _kill()

        run_dir.atomic_write_text = die_after


if __name__ == "__main__":
    from flowkit.cli import main

    _arm(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
