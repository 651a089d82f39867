"""The files of a run directory, and finding the model a command should read.

Everything the CLI writes into a run directory goes through :mod:`flowkit.io._write`: an
``OSError`` (disk full, permissions) becomes one :class:`WriteError` line naming the file and
the cause, and a file is either whole or not there.
"""

import json
import os
from collections.abc import Callable
from pathlib import Path

import flowkit as fk
from flowkit.io._write import WriteError, atomic_write_text, describe

from ._errors import UserError

RUN_INFO = "run.json"  # the command line's settings, written by flowkit train
MODEL_FILES = ("best", "last")


def model_file(path: Path, which: str = "best") -> tuple[Path, dict]:
    """``(file, run settings)`` for a run directory (its ``best``/``last`` model) or a model
    file; the settings (data set, image shape, levels) come from the file's metadata."""
    if path.is_dir():
        file = path / f"{which}.flowkit"
        if not file.is_file():
            raise UserError(
                f"{path}: no {which}.flowkit here; give a run directory written by flowkit "
                "train (or flowkit.fit(run=...)) or a .flowkit file"
            )
    elif path.is_file():
        file = path
    else:
        raise UserError(f"{path}: no such model file or run directory")
    return file, dict(fk.model_info(file).get("metadata") or {})


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically (a :class:`WriteError` if it cannot)."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def write_figure(path: Path, make: Callable[[Path], Path]) -> Path:
    """The figure ``make(temporary path)`` draws, renamed to ``path`` (its suffix kept when
    ``make`` chose another, e.g. ``.npy``) once whole; returns the final path."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    made = tmp
    try:
        made = make(tmp)
        final = path.with_suffix(made.suffix)
        os.replace(made, final)
        return final
    except OSError as e:
        raise WriteError(path, describe(e), e.errno) from e
    finally:
        for leftover in {tmp, made}:
            leftover.unlink(missing_ok=True)


def read_run_info(run_dir: Path) -> dict | None:
    """The settings a run directory was trained with, or None."""
    path = run_dir / RUN_INFO
    return json.loads(path.read_text()) if path.is_file() else None
