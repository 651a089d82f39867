"""Metrics as JSON lines, one record per step; resuming drops records past the checkpoint."""

import json
import math
import os
from pathlib import Path


def _keep(line: str, last_step: int) -> bool:
    try:
        return json.loads(line)["step"] <= last_step
    except (ValueError, KeyError, TypeError):
        return False  # a line cut short by a kill


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf: "nan", "inf"
    return value


class MetricsLog:
    """Append step records to a JSON-lines file.

    Args:
        path: the file (its folder is created if missing).
        resume_step: records after this step (those of a run killed after its last
            checkpoint, or of an older run when starting at 0) are removed first.
    """

    def __init__(self, path: str | os.PathLike, *, resume_step: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if resume_step > 0 and self.path.exists():
            kept = [ln for ln in self.path.read_text().splitlines() if _keep(ln, resume_step)]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, self.path)
        self._file = self.path.open("a")

    def write(self, record: dict) -> None:
        """Write one record and flush it.

        Args:
            record: JSON-able scalars, with a ``"step"``; NaN and inf are stored as
                strings.
        """
        self._file.write(json.dumps({k: _plain(v) for k, v in record.items()}) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of a metrics file.

    Args:
        path: a file written by :class:`MetricsLog`.

    Returns:
        The records, in order (NaN and inf as the strings ``"nan"``, ``"inf"``).
    """
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]
