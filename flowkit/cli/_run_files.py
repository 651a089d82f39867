"""The files of a run directory, and finding the model a command should read."""

import json
import os
from pathlib import Path

import flowkit as fk

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
                "train (or flowkit.fit(run_dir=...)) or a .flowkit file"
            )
    elif path.is_file():
        file = path
    else:
        raise UserError(f"{path}: no such model file or run directory")
    return file, dict(fk.model_info(file).get("metadata") or {})


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_run_info(run_dir: Path) -> dict | None:
    """The settings a run directory was trained with, or None."""
    path = run_dir / RUN_INFO
    return json.loads(path.read_text()) if path.is_file() else None
